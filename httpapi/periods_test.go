package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/ledger"
)

// TestPeriodReads: the example events close March 2026 of jiangjin-care
// (its first close). Its list, its report, a month closed without a
// report of its own, and the city-wide view within the token's funds.
func TestPeriodReads(t *testing.T) {
	l := startAuthExample(t)
	all := l.token([]string{"reporting"}, []string{"*"})
	wz := l.token([]string{"officer"}, []string{"wanzhou-care"})

	var list struct {
		Periods []struct {
			Period         string `json:"period"`
			ClosedBy       string `json:"closed_by"`
			ApprovedBy     string `json:"approved_by"`
			AsOfJournalSeq int64  `json:"as_of_journal_seq"`
			First          bool   `json:"first"`
		} `json:"periods"`
		LastClosed *string `json:"last_closed"`
	}
	_, _, body := l.get("/v1/funds/jiangjin-care/periods", all)
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Periods) != 1 || list.Periods[0].Period != "2026-03" || !list.Periods[0].First ||
		list.Periods[0].ClosedBy != "accountant-li" || list.LastClosed == nil || *list.LastClosed != "2026-03" {
		t.Fatalf("periods %s", body)
	}
	_, _, body = l.get("/v1/funds/wanzhou-care/periods", all)
	if strings.TrimSpace(string(body)) != `{"periods":[],"last_closed":null}` {
		t.Errorf("wanzhou-care periods %s", body)
	}

	_, _, body = l.get("/v1/funds/jiangjin-care/periods/2026-03", all)
	r, err := ledger.ParsePeriodReport(body)
	if err != nil || r.Period != "2026-03" || r.AsOfJournalSeq != list.Periods[0].AsOfJournalSeq {
		t.Fatalf("report %s: %v", body, err)
	}
	if r.Contributions.Fiscal == "0.00" || len(r.Accounts) == 0 {
		t.Errorf("report without figures: %s", body)
	}
	if msg := l.want("/v1/funds/jiangjin-care/periods/2026-02", all, http.StatusNotFound); !strings.Contains(msg, "2026-02") {
		t.Errorf("a month closed by a later first close: %q", msg)
	}
	l.want("/v1/funds/jiangjin-care/periods/2026-04", all, http.StatusNotFound)
	l.want("/v1/funds/jiangjin-care/periods/2026-13", all, http.StatusBadRequest)
	l.want("/v1/periods/2026-3", all, http.StatusBadRequest)
	l.want("/v1/funds/jiangjin-care/periods/2026-03", wz, http.StatusNotFound) // outside the token's funds

	var city ledger.CityPeriod
	_, _, body = l.get("/v1/periods/2026-03", all)
	if err := json.Unmarshal(body, &city); err != nil {
		t.Fatal(err)
	}
	if len(city.Closed) != 1 || city.Closed[0].FundID != "jiangjin-care" || strings.Join(city.NotClosed, ",") != "wanzhou-care" {
		t.Fatalf("city view %s", body)
	}
	cr, err := ledger.ParsePeriodReport(city.Closed[0].Report)
	if err != nil || cr.Signature != r.Signature {
		t.Fatalf("the city view's report is not the fund's: %v", err)
	}
	if city.Totals.Contributions != r.Contributions || len(city.Totals.Accounts) != len(r.Accounts) || city.Totals.Accounts[0] != r.Accounts[0] {
		t.Errorf("totals of one report are not the report: %+v", city.Totals)
	}
	// Only the token's funds.
	_, _, body = l.get("/v1/periods/2026-03", wz)
	if !strings.Contains(string(body), `"closed":[],"not_closed":["wanzhou-care"]`) || strings.Contains(string(body), "jiangjin") {
		t.Errorf("wanzhou-care's token sees %s", body)
	}
	// February: closed for jiangjin-care (by March's first close) without
	// a report of its own, and counted in no total.
	_, _, body = l.get("/v1/periods/2026-02", all)
	if !strings.Contains(string(body), `"closed":[{"fund_id":"jiangjin-care","report":null}],"not_closed":["wanzhou-care"]`) ||
		!strings.Contains(string(body), `"accounts":[]`) {
		t.Errorf("February %s", body)
	}
}
