package httpapi

import (
	"net/http"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// The periods of CONTRACT.md section 11: a fund's period reports and the
// city-wide view of one month.

// fundPeriods serves GET /v1/funds/{fund_id}/periods: the fund's period
// reports in month order, and the last month closed (null when none).
func (a *API) fundPeriods(w http.ResponseWriter, r *http.Request) {
	list, last, err := a.Store.FundPeriods(r.Context(), r.PathValue("fund_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var lastClosed *string
	if last != "" {
		lastClosed = &last
	}
	writeJSON(w, http.StatusOK, struct {
		Periods    []postgres.PeriodInfo `json:"periods"`
		LastClosed *string               `json:"last_closed"`
	}{list, lastClosed})
}

// periodParam reads the {period} of the path, a real YYYY-MM.
func (a *API) periodParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.PathValue("period")
	if _, err := events.ParsePeriod(p); err != nil {
		a.badParam(w, r, err)
		return "", false
	}
	return p, true
}

// fundPeriod serves GET /v1/funds/{fund_id}/periods/{period}: the report
// as published; 404 for a month without a report of its own.
func (a *API) fundPeriod(w http.ResponseWriter, r *http.Request) {
	p, ok := a.periodParam(w, r)
	if !ok {
		return
	}
	body, err := a.Store.PeriodReport(r.Context(), r.PathValue("fund_id"), p)
	a.writePublished(w, r, body, err)
}

// cityPeriod serves GET /v1/periods/{period}: the city-wide view of one
// month over the token's funds only.
func (a *API) cityPeriod(w http.ResponseWriter, r *http.Request) {
	p, ok := a.periodParam(w, r)
	if !ok {
		return
	}
	v, err := a.Store.CityPeriod(r.Context(), p, principalOf(r).SeesFund)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
