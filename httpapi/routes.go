package httpapi

import "net/http"

// routes is every endpoint of the read API, and the only place one is
// registered: each names who may read it (CONTRACT.md section 9) and
// where its fund comes from, and Handler puts each behind the access
// check. A pattern served without an entry here is refused (500), and
// TestEveryRouteIsGuarded proves each entry refuses a request without a
// token, a role without the right and a fund outside the token's funds.
//
// To add an endpoint: add its line here, with
//   - the right: readBooks (officer, auditor, reporting: funds, balances,
//     snapshots, reconciliations, periods), readDetail (officer, auditor:
//     journal, grants, beneficiaries, rejections, proofs, bank statements), readAudit (auditor: verify), readAccessLog (auditor whose
//     funds are ["*"]) or open (no token: only what is public);
//   - the fund: fundPath when the path holds {fund_id} (a fund outside the
//     token's funds is then a 404, before the handler runs), fundListed
//     when the handler lists several funds (it must show only those for
//     which principalOf(r).SeesFund is true), fundNone when it is about no
//     fund.
func (a *API) routes() []route {
	return []route{
		{"GET /v1/funds", readBooks, fundListed, a.funds},
		{"GET /v1/funds/{fund_id}", readBooks, fundPath, a.fund},
		{"GET /v1/funds/{fund_id}/balances", readBooks, fundPath, a.balances},
		{"GET /v1/funds/{fund_id}/journal", readDetail, fundPath, a.journal},
		{"GET /v1/funds/{fund_id}/events", readDetail, fundPath, a.fundEvents}, // audit.go
		{"GET /v1/funds/{fund_id}/grants/{grant_id}", readDetail, fundPath, a.grant},
		{"GET /v1/funds/{fund_id}/grants", readDetail, fundPath, a.grantsList},                           // reads_more.go
		{"GET /v1/funds/{fund_id}/beneficiaries/{beneficiary_ref}", readDetail, fundPath, a.beneficiary}, // reads_more.go
		{"GET /v1/funds/{fund_id}/snapshots", readBooks, fundPath, a.snapshots},
		{"GET /v1/funds/{fund_id}/snapshots/latest", readBooks, fundPath, a.snapshot},
		{"GET /v1/funds/{fund_id}/snapshots/{seq}", readBooks, fundPath, a.snapshot},
		{"GET /v1/funds/{fund_id}/verify", readAudit, fundPath, a.auditVerify},
		{"GET /v1/funds/{fund_id}/statements", readDetail, fundPath, a.bankStatements},            // recon.go
		{"GET /v1/funds/{fund_id}/reconciliations", readBooks, fundPath, a.reconciliations},       // recon.go
		{"GET /v1/funds/{fund_id}/reconciliations/latest", readBooks, fundPath, a.reconciliation}, // recon.go
		{"GET /v1/funds/{fund_id}/reconciliations/{seq}", readBooks, fundPath, a.reconciliation},  // recon.go
		{"GET /v1/funds/{fund_id}/periods", readBooks, fundPath, a.fundPeriods},                   // periods.go
		{"GET /v1/funds/{fund_id}/periods/{period}", readBooks, fundPath, a.fundPeriod},           // periods.go
		{"GET /v1/periods/{period}", readBooks, fundListed, a.cityPeriod},                         // periods.go
		{"GET /v1/rejections", readDetail, fundListed, a.rejections},
		{"GET /v1/funds/{fund_id}/proofs/inclusion", readDetail, fundPath, a.inclusionProof},     // proofs.go
		{"GET /v1/funds/{fund_id}/proofs/consistency", readDetail, fundPath, a.consistencyProof}, // proofs.go
		{"GET /v1/keys", open, fundNone, a.auditKeys},
		{"GET /v1/access-log", readAccessLog, fundNone, a.accessLog},
		// The web console (pages.go, package console): each page has the
		// right and the fund of the API endpoint whose data it shows.
		{"GET /{$}", readBooks, fundListed, a.page(Pages.Funds)},
		{"GET /funds/{fund_id}", readBooks, fundPath, a.page(Pages.Fund)},
		{"GET /funds/{fund_id}/journal", readDetail, fundPath, a.page(Pages.Journal)},
		{"GET /funds/{fund_id}/grants/{grant_id}", readDetail, fundPath, a.page(Pages.Grant)},
		{"GET /funds/{fund_id}/beneficiaries/{beneficiary_ref}", readDetail, fundPath, a.page(Pages.Beneficiary)},
		{"GET /funds/{fund_id}/snapshots", readBooks, fundPath, a.page(Pages.Snapshots)},
		{"GET /funds/{fund_id}/verify", readAudit, fundPath, a.page(Pages.Verify)},
		{"GET /funds/{fund_id}/reconciliations", readBooks, fundPath, a.page(Pages.Reconciliations)},
		{"GET /funds/{fund_id}/periods", readBooks, fundPath, a.page(Pages.Periods)},
		{"GET /funds/{fund_id}/periods/{period}", readBooks, fundPath, a.page(Pages.Period)},
		{"GET /periods/{period}", readBooks, fundListed, a.page(Pages.CityPeriod)},
		{"GET /rejections", readDetail, fundListed, a.page(Pages.Rejections)},
		// The console's downloads (package export, the CLI's CSV and XLSX
		// files): each with the right of the API data it holds; the path's
		// third segment names that data (journal, grants, periods,
		// reconciliations), and the city-wide month covers only the token's
		// funds, as GET /v1/periods/{period}.
		{"GET /funds/{fund_id}/journal/statement/{format}", readDetail, fundPath, a.page(Pages.StatementExport)},
		{"GET /funds/{fund_id}/grants/register/{format}", readDetail, fundPath, a.page(Pages.GrantsExport)},
		{"GET /funds/{fund_id}/periods/{period}/export/{format}", readBooks, fundPath, a.page(Pages.PeriodExport)},
		{"GET /periods/{period}/export/{format}", readBooks, fundListed, a.page(Pages.CityPeriodExport)},
		{"GET /funds/{fund_id}/reconciliations/{seq}/export/{format}", readBooks, fundPath, a.page(Pages.ReconciliationExport)},
		{"GET /assets/{file}", open, fundNone, a.page(Pages.Asset)},
		// Any other path or method: a valid token, then 404 or 405, so
		// nobody learns without one which paths exist.
		{"/", anyToken, fundNone, a.notFound},
	}
}

// notFound answers a path no route serves.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "the read API is read-only: "+r.Method+" is not allowed")
		return
	}
	writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
}
