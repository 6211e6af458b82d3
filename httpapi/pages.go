package httpapi

// The web console's hook (CONTRACT.md section 9: the web console is
// served at /, HTML pages of the same data under the same rules). The pages
// themselves are package console; they are routed here, in the table of
// routes.go, each behind the same access check as the API's endpoints, so
// a page can never show what its API twin would refuse. This file gives
// the pages what they need of a request: whom it speaks for and its
// parsed filters, exactly as the API reads them.

import (
	"net/http"

	"github.com/fundledger/fundledger/ledger/postgres"
)

// Pages are the console's handlers (console.Console implements it). Each
// runs after the access check of its line in routes.go.
type Pages interface {
	// Funds is GET /: every fund in the token's funds.
	Funds(w http.ResponseWriter, r *http.Request)
	// Fund is GET /funds/{fund_id}.
	Fund(w http.ResponseWriter, r *http.Request)
	// Journal is GET /funds/{fund_id}/journal with the journal's filters.
	Journal(w http.ResponseWriter, r *http.Request)
	// Grant is GET /funds/{fund_id}/grants/{grant_id}: its timeline.
	Grant(w http.ResponseWriter, r *http.Request)
	// Beneficiary is GET /funds/{fund_id}/beneficiaries/{beneficiary_ref}.
	Beneficiary(w http.ResponseWriter, r *http.Request)
	// Snapshots is GET /funds/{fund_id}/snapshots.
	Snapshots(w http.ResponseWriter, r *http.Request)
	// Verify is GET /funds/{fund_id}/verify (auditors).
	Verify(w http.ResponseWriter, r *http.Request)
	// Reconciliations is GET /funds/{fund_id}/reconciliations: the latest
	// bank reconciliation, the reports and the statements.
	Reconciliations(w http.ResponseWriter, r *http.Request)
	// Periods is GET /funds/{fund_id}/periods: the closed months.
	Periods(w http.ResponseWriter, r *http.Request)
	// Period is GET /funds/{fund_id}/periods/{period}: one period report.
	Period(w http.ResponseWriter, r *http.Request)
	// CityPeriod is GET /periods/{period}: the city-wide view of one month
	// over the token's funds.
	CityPeriod(w http.ResponseWriter, r *http.Request)
	// Rejections is GET /rejections with the rejections' filters.
	Rejections(w http.ResponseWriter, r *http.Request)
	// StatementExport is GET /funds/{fund_id}/journal/statement/{format}
	// (csv or xlsx) with from and to: the account statement of the range.
	StatementExport(w http.ResponseWriter, r *http.Request)
	// GrantsExport is GET /funds/{fund_id}/grants/register/{format}.
	GrantsExport(w http.ResponseWriter, r *http.Request)
	// PeriodExport is GET /funds/{fund_id}/periods/{period}/export/{format}.
	PeriodExport(w http.ResponseWriter, r *http.Request)
	// CityPeriodExport is GET /periods/{period}/export/{format}: over the
	// token's funds.
	CityPeriodExport(w http.ResponseWriter, r *http.Request)
	// ReconciliationExport is GET
	// /funds/{fund_id}/reconciliations/{seq}/export/{format} (seq: a
	// number or latest).
	ReconciliationExport(w http.ResponseWriter, r *http.Request)
	// Asset is GET /assets/{file}: the embedded CSS, script and libraries.
	Asset(w http.ResponseWriter, r *http.Request)
}

// page is a console route's handler: a 404 when the API runs without the
// console.
func (a *API) page(h func(Pages, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.Pages == nil {
			a.notFound(w, r)
			return
		}
		h(a.Pages, w, r)
	}
}

// PrincipalOf is whom a request that passed the access check speaks for:
// the token's subject, roles and funds, or everyone when the API is open.
func PrincipalOf(r *http.Request) *Principal { return principalOf(r) }

// JournalFilterOf reads the journal's filters (type, from, to, grant_id,
// beneficiary_ref, bank_ref, program) as GET .../journal does.
func JournalFilterOf(r *http.Request) (postgres.JournalFilter, error) { return journalFilter(r) }

// RejectionFilterOf reads the rejections' filters (fund_id, code, type,
// from, to) as GET /v1/rejections does.
func RejectionFilterOf(r *http.Request) (postgres.RejectionFilter, error) { return rejectionFilter(r) }

// IsConfigError says whether a parameter error is the service's settings'
// fault (an unknown FUNDLEDGER_TZ), not the request's.
func IsConfigError(err error) bool {
	_, ok := err.(configError)
	return ok
}

// ScopedRejections pages the rejections within p's funds as GET
// /v1/rejections does (another fund's: an empty page; _unknown only for
// ["*"]). fetch reads one page of one fund, or of all when fundID is "".
func ScopedRejections(p *Principal, fundID string, after int64, limit int,
	fetch func(fundID string, after int64, limit int) (*postgres.RejectionPage, error)) (*postgres.RejectionPage, error) {
	return scopedRejections(p, fundID, after, limit, fetch)
}

// SeesRaw says whether p may read the raw bytes of rejected events
// (auditors: CONTRACT.md section 9).
func SeesRaw(p *Principal) bool { return p.HasRole(RoleAuditor) }
