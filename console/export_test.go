package console_test

// The downloads (package export through the console's routes): each is
// the CLI's file, behind the right of the API data it holds. Checked over
// HTTP against the read API with tokens of several roles and funds, and in
// the browser: the links are drawn where a role may use them and serve
// the file.

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// fetch GETs path from the secured console with token: its status,
// headers and body.
func (s *site) fetch(path, token string) (int, http.Header, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.secured+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// rows downloads path as a file of format and returns its rows (an XLSX
// with raw cell values: amounts as the numbers stored).
func (s *site) rows(t *testing.T, path, token, format, filename string) [][]string {
	t.Helper()
	code, h, b := s.fetch(path, token)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", path, code, b)
	}
	want := "text/csv; charset=utf-8"
	if format == "xlsx" {
		want = xlsxType
	}
	if got := h.Get("Content-Type"); got != want {
		t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
	}
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != filename {
		t.Errorf("GET %s: Content-Disposition %q, want attachment; filename=%s", path, h.Get("Content-Disposition"), filename)
	}
	if format == "csv" {
		r := csv.NewReader(bytes.NewReader(b))
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil {
			t.Fatalf("GET %s: not CSV: %v", path, err)
		}
		return rows
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("GET %s: not an XLSX workbook: %v", path, err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0), excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// sameAmount: a file's cell (two-place text in CSV, a number in XLSX) is
// the API's amount.
func sameAmount(t *testing.T, what, cell, api string) {
	t.Helper()
	c, err := decimal.NewFromString(cell)
	if err != nil || !c.Equal(decimal.RequireFromString(api)) {
		t.Errorf("%s: the file says %q, the API %q", what, cell, api)
	}
}

// block finds the rows after the header whose first cell is head, up to
// the next empty row.
func block(rows [][]string, head string) [][]string {
	for i, r := range rows {
		if len(r) > 0 && r[0] == head {
			var out [][]string
			for _, x := range rows[i+1:] {
				if len(x) == 0 || x[0] == "" {
					break
				}
				out = append(out, x)
			}
			return out
		}
	}
	return nil
}

func testDownloads(t *testing.T, s *site, ctx context.Context) {
	d, p := s.district, s.period
	officer := s.token("officer-d", []string{httpapi.RoleOfficer}, []string{d})
	reporting := s.token("report-d", []string{httpapi.RoleReporting}, []string{d})
	cityOfficer := s.token("officer-city", []string{httpapi.RoleOfficer, httpapi.RoleAuditor}, []string{s.city})

	var fund apiFund
	s.api(s.secured, "/v1/funds/"+d, officer, &fund)
	for _, format := range []string{"csv", "xlsx"} {
		t.Run("grants "+format, func(t *testing.T) {
			rows := s.rows(t, "/funds/"+d+"/grants/register/"+format, officer, format, "grants-"+d+"."+format)
			var total []string
			for _, r := range rows {
				if len(r) > 0 && r[0] == "TOTAL" {
					total = r
				}
			}
			if len(total) < 12 {
				t.Fatalf("no TOTAL line in %d rows", len(rows))
			}
			sameAmount(t, "total outstanding", total[11], fund.GrantsPayable)
		})
		t.Run("statement "+format, func(t *testing.T) {
			var bal struct {
				Accounts []struct{ Account, Balance string } `json:"accounts"`
			}
			s.api(s.secured, "/v1/funds/"+d+"/balances", officer, &bal)
			rows := s.rows(t, "/funds/"+d+"/journal/statement/"+format+"?from=2000-01-01&to=2100-01-01", officer, format,
				"statement-"+d+"-2000-01-01-2100-01-01."+format)
			closing := map[string]string{}
			for _, r := range rows {
				if len(r) == 9 && r[1] == "closing" {
					closing[r[0]] = r[8]
				}
			}
			if len(closing) < 4 {
				t.Fatalf("%d closing lines in %d rows", len(closing), len(rows))
			}
			for _, a := range bal.Accounts {
				sameAmount(t, "closing "+a.Account, closing[a.Account], a.Balance)
			}
		})
		t.Run("period "+format, func(t *testing.T) {
			var rep struct {
				Accounts []struct{ Account, Closing string } `json:"accounts"`
			}
			s.api(s.secured, "/v1/funds/"+d+"/periods/"+p, reporting, &rep)
			rows := s.rows(t, "/funds/"+d+"/periods/"+p+"/export/"+format, reporting, format, "period-"+d+"-"+p+"."+format)
			accts := block(rows, "account")
			if len(accts) != len(rep.Accounts) || len(rep.Accounts) == 0 {
				t.Fatalf("%d accounts in the file, %d in the API", len(accts), len(rep.Accounts))
			}
			for i, a := range rep.Accounts {
				if accts[i][0] != a.Account {
					t.Errorf("account %d: %q, the API %q", i, accts[i][0], a.Account)
				}
				sameAmount(t, a.Account+" closing", accts[i][4], a.Closing)
			}
		})
		t.Run("city "+format, func(t *testing.T) {
			// Over the token's funds only: the district's, not the city's.
			var city struct {
				Totals struct {
					Accounts []struct{ Account, Closing string } `json:"accounts"`
				} `json:"totals"`
			}
			s.api(s.secured, "/v1/periods/"+p, reporting, &city)
			rows := s.rows(t, "/periods/"+p+"/export/"+format, reporting, format, "city-"+p+"."+format)
			for _, r := range rows {
				if slices.Contains(r, s.city) {
					t.Errorf("the city-wide file of a district's token lists the city fund: %v", r)
				}
			}
			accts := block(rows, "account")
			if len(accts) != len(city.Totals.Accounts) || len(accts) == 0 {
				t.Fatalf("%d accounts in the file, %d in the API", len(accts), len(city.Totals.Accounts))
			}
			for i, a := range city.Totals.Accounts {
				sameAmount(t, "city "+a.Account+" closing", accts[i][4], a.Closing)
			}
		})
		t.Run("reconciliation "+format, func(t *testing.T) {
			var rec struct {
				Seq          int64  `json:"reconciliation_seq"`
				AdjustedBank string `json:"adjusted_bank_balance"`
				AdjustedBook string `json:"adjusted_book_balance"`
			}
			s.api(s.secured, "/v1/funds/"+d+"/reconciliations/latest", reporting, &rec)
			rows := s.rows(t, fmt.Sprintf("/funds/%s/reconciliations/%d/export/%s", d, rec.Seq, format), reporting, format,
				fmt.Sprintf("reconciliation-%s-%d.%s", d, rec.Seq, format))
			found := false
			for _, r := range rows {
				if len(r) > 3 && strings.HasPrefix(r[1], "adjusted balance") {
					found = true
					sameAmount(t, "adjusted bank balance", r[2], rec.AdjustedBank)
					sameAmount(t, "adjusted book balance", r[3], rec.AdjustedBook)
				}
			}
			if !found {
				t.Errorf("no adjusted balance row in %d rows", len(rows))
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			path, token string
			want        int
		}{
			// Reporting may not read the journal nor the grants.
			{"/funds/" + d + "/grants/register/csv", reporting, http.StatusForbidden},
			{"/funds/" + d + "/journal/statement/xlsx?from=2026-01-01&to=2026-02-01", reporting, http.StatusForbidden},
			// A fund outside the token's funds: as if it did not exist.
			{"/funds/" + d + "/grants/register/csv", cityOfficer, http.StatusNotFound},
			{"/funds/" + d + "/journal/statement/csv?from=2026-01-01&to=2026-02-01", cityOfficer, http.StatusNotFound},
			{"/funds/" + d + "/periods/" + p + "/export/xlsx", cityOfficer, http.StatusNotFound},
			{"/funds/" + d + "/reconciliations/latest/export/csv", cityOfficer, http.StatusNotFound},
			// No such format; a statement needs its dates.
			{"/funds/" + d + "/grants/register/pdf", officer, http.StatusNotFound},
			{"/funds/" + d + "/journal/statement/csv?from=2026-01-01", officer, http.StatusBadRequest},
		} {
			if code, _, b := s.fetch(c.path, c.token); code != c.want {
				t.Errorf("GET %s: %d %.200s, want %d", c.path, code, b, c.want)
			}
		}
		// The reporting token's fund page draws no grants register link.
		if _, _, b := s.fetch("/funds/"+d, reporting); bytes.Contains(b, []byte("/grants/register/")) {
			t.Error("a reporting token's fund page links the grants register")
		}
	})

	t.Run("links in the browser", func(t *testing.T) {
		// Each page's link is there with its path, and serves its file to
		// the browser (a same-origin request from the page).
		for _, c := range []struct{ page, sel, href string }{
			{"/funds/" + d, "#dl-grants", "/funds/" + d + "/grants/register/xlsx"},
			{"/funds/" + d + "/journal?from=2026-01-01&to=2026-04-01", "#dl-statement", "/funds/" + d + "/journal/statement/xlsx?from=2026-01-01&to=2026-04-01"},
			{"/funds/" + d + "/periods/" + p, "#dl-period", "/funds/" + d + "/periods/" + p + "/export/xlsx"},
			{"/periods/" + p, "#dl-city", "/periods/" + p + "/export/xlsx"},
		} {
			run(t, ctx, chromedp.Navigate(s.open+c.page), chromedp.WaitVisible(chromedp.CSS(c.sel)))
			var href, got string
			eval(t, ctx, fmt.Sprintf(`document.querySelector('%s a[data-format=xlsx]').getAttribute('href')`, c.sel), &href)
			if href != c.href {
				t.Errorf("%s: link %q, want %q", c.page, href, c.href)
			}
			eval(t, ctx, fmt.Sprintf(`(() => { const x = new XMLHttpRequest(); x.open('GET', document.querySelector('%s a[data-format=xlsx]').href, false); x.send();
				return x.status + ' ' + x.getResponseHeader('Content-Type') + ' ' + x.getResponseHeader('Content-Disposition'); })()`, c.sel), &got)
			if !strings.HasPrefix(got, "200 "+xlsxType+" attachment") {
				t.Errorf("%s: the link answers %q", c.page, got)
			}
		}
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/journal"), chromedp.WaitVisible(chromedp.CSS("#dl-statement-hint")))
		run(t, ctx, chromedp.Navigate(s.open+"/funds/"+d+"/reconciliations"), chromedp.WaitVisible(chromedp.CSS("#dl-recon a[data-format=csv]")),
			chromedp.Click(chromedp.CSS("#dl-recon a[data-format=csv]")))
		// The click downloads; the page stays where it was.
		var still bool
		eval(t, ctx, `document.querySelector('#recon-summary') !== null`, &still)
		if !still {
			t.Error("clicking the download link left the reconciliation page")
		}
	})
}
