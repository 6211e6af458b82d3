package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testenv"
)

// paramsLedger runs a ledger with one fund "f" (two transactions, one
// snapshot) and one rejection.
func paramsLedger(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{API: httpapi.New})
	l.Event("f", "fund.opened", map[string]any{"fund_id": "f", "name": "F", "programs": []any{map[string]any{"code": "p"}}})
	l.Event("f", "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "other", "payer": "bank",
		"amount": "100", "bank_ref": "b", "received_on": "2026-01-05"})
	l.Event("f", "grant.approved", map[string]any{"grant_id": "g-1", "beneficiary_ref": "ben", "program": "p", "category": "c",
		"amount": "30", "requested_by": "r", "approved_by": "a", "approved_on": "2026-01-06"})
	l.Event("f", "snapshot.requested", map[string]any{"requested_by": "auditor"})
	l.Event("f", "grant.approved", map[string]any{"grant_id": "g-2", "beneficiary_ref": "ben", "program": "nope", "category": "c",
		"amount": "1", "requested_by": "r", "approved_by": "a", "approved_on": "2026-01-06"})
	l.WaitIdle()
	return l
}

// CONTRACT.md section 9 orders the answers: bad parameters (400) come
// before a missing fund (404). A request naming a fund that does not
// exist is a 400 when a parameter is bad, and a 404 when they are good.
func TestBadParametersBeforeMissingFund(t *testing.T) {
	l := paramsLedger(t)
	for _, q := range []string{
		"/balances?as_of_journal_seq=abc",
		"/balances?as_of_journal_seq=-1",
		"/journal?after_seq=x",
		"/journal?limit=0",
		"/journal?limit=5000",
		"/snapshots?after=-1",
		"/snapshots?limit=abc",
		"/snapshots/abc",
		"/snapshots/0",
	} {
		if msg := wantError(t, l, "/v1/funds/nope"+q, http.StatusBadRequest); msg == "" {
			t.Errorf("%s: empty error", q)
		}
		wantError(t, l, "/v1/funds/f"+q, http.StatusBadRequest)
	}
	for _, q := range []string{"/balances?as_of_journal_seq=0", "/journal?limit=5", "/snapshots?after=0", "/snapshots/1"} {
		wantError(t, l, "/v1/funds/nope"+q, http.StatusNotFound)
	}
}

// CONTRACT.md section 7 writes the rejections query as
// `/v1/rejections?fund_id=&after=&limit=`: a parameter given empty is a
// parameter not given, on every endpoint.
func TestEmptyQueryParametersAreDefaults(t *testing.T) {
	l := paramsLedger(t)
	for _, c := range []struct{ empty, absent string }{
		{"/v1/rejections?fund_id=&after=&limit=", "/v1/rejections"},
		{"/v1/funds/f/journal?after_seq=&limit=", "/v1/funds/f/journal"},
		{"/v1/funds/f/snapshots?after=&limit=", "/v1/funds/f/snapshots"},
		{"/v1/funds/f/balances?as_of_journal_seq=", "/v1/funds/f/balances"},
	} {
		var got, want map[string]any
		getJSON(t, l, c.absent, http.StatusOK, &want)
		getJSON(t, l, c.empty, http.StatusOK, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s = %v\nwant GET %s = %v", c.empty, got, c.absent, want)
		}
	}
	var p struct {
		Rejections []map[string]any `json:"rejections"`
	}
	getJSON(t, l, "/v1/rejections?fund_id=&after=&limit=", http.StatusOK, &p)
	if len(p.Rejections) != 1 || p.Rejections[0]["code"] != "unknown_program" {
		t.Errorf("rejections = %v, want the one unknown_program", p.Rejections)
	}
}
