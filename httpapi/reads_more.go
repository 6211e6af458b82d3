package httpapi

// The searches of CONTRACT.md section 7: the journal's filters, the
// rejections' filters, the grants list and a beneficiary's usage. The
// queries and the indexes they rely on are in ledger/postgres
// (reads_more.go); docs/performance.md has their times on a fund of a
// million transactions.
//
// Times in a query (from, to) are RFC 3339 with an offset
// (2026-03-02T09:15:00+08:00, 2026-03-02T01:15:00Z), or a date
// (2026-03-02) meaning its midnight in FUNDLEDGER_TZ (default
// Asia/Shanghai). A '+' of an offset sent unescaped arrives as a space
// (URL query decoding); it is read as the '+' it was.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // FUNDLEDGER_TZ must resolve on hosts without a zoneinfo database

	"github.com/fundledger/fundledger/ledger/postgres"
)

// DefaultZone is the time zone of dates when FUNDLEDGER_TZ is not set.
const DefaultZone = "Asia/Shanghai"

var zones sync.Map // zone name -> *time.Location

// Zone is the time zone FUNDLEDGER_TZ names (DefaultZone when unset), in
// which a date in a query means its midnight. An unknown zone is an error
// for the operator: serve should refuse to start with it.
func Zone() (*time.Location, error) {
	name := os.Getenv("FUNDLEDGER_TZ")
	if name == "" {
		name = DefaultZone
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("FUNDLEDGER_TZ %q is not a time zone: %w", name, err)
	}
	zones.Store(name, loc)
	return loc, nil
}

// configError is a fault of the service's settings, not of the request: a
// 500, logged.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// timeParam reads a time query parameter (see the top of this file); the
// zero time when it is absent or empty.
func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) == len(time.DateOnly) {
		loc, err := Zone()
		if err != nil {
			return time.Time{}, configError{err}
		}
		d, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s %q is not a date (YYYY-MM-DD) nor an RFC 3339 time", name, s)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time with an offset (2026-03-02T09:15:00+08:00) nor a date (2026-03-02)", name, s)
	}
	return t, nil
}

// timeRange reads from and to; to before from is a bad request.
func timeRange(r *http.Request) (from, to time.Time, err error) {
	if from, err = timeParam(r, "from"); err != nil {
		return
	}
	if to, err = timeParam(r, "to"); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		err = fmt.Errorf("to %s is before from %s", r.URL.Query().Get("to"), r.URL.Query().Get("from"))
	}
	return
}

// limitParam reads limit: 1 to postgres.MaxLimit, postgres.DefaultLimit
// when absent or empty.
func limitParam(r *http.Request) (int, error) {
	l, err := intParam(r, "limit", postgres.DefaultLimit, 1)
	if err != nil {
		return 0, err
	}
	if l > postgres.MaxLimit {
		return 0, fmt.Errorf("limit %d is above the maximum of %d", l, postgres.MaxLimit)
	}
	return int(l), nil
}

// paramFailed answers a parameter that could not be read: a setting of the
// service that is wrong is a 500, anything else badParam.
func (a *API) paramFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ce configError
	if errors.As(err, &ce) {
		a.fail(w, r, err)
		return
	}
	a.badParam(w, r, err)
}

// journalFilter reads the journal's filters: type, from, to, grant_id,
// beneficiary_ref, bank_ref, program.
func journalFilter(r *http.Request) (postgres.JournalFilter, error) {
	q := r.URL.Query()
	f := postgres.JournalFilter{Type: q.Get("type"), GrantID: q.Get("grant_id"), BeneficiaryRef: q.Get("beneficiary_ref"),
		BankRef: q.Get("bank_ref"), Program: q.Get("program")}
	var err error
	f.From, f.To, err = timeRange(r)
	return f, err
}

// rejectionFilter reads the rejections' filters: fund_id, code, type,
// from, to (on received_at).
func rejectionFilter(r *http.Request) (postgres.RejectionFilter, error) {
	q := r.URL.Query()
	f := postgres.RejectionFilter{FundID: q.Get("fund_id"), Code: q.Get("code"), Type: q.Get("type")}
	var err error
	f.From, f.To, err = timeRange(r)
	return f, err
}

// grantsList serves GET /v1/funds/{fund_id}/grants: the fund's grants by
// grant_id in byte order, filtered by beneficiary_ref, program and state,
// paged with after=<grant_id>.
func (a *API) grantsList(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		a.badParam(w, r, err)
		return
	}
	q := r.URL.Query()
	f := postgres.GrantFilter{BeneficiaryRef: q.Get("beneficiary_ref"), Program: q.Get("program"), State: q.Get("state")}
	switch f.State {
	case "", postgres.GrantOpen, postgres.GrantPaid, postgres.GrantCancelled:
	default:
		a.badParam(w, r, fmt.Errorf("state %q is not one of open, paid, cancelled", f.State))
		return
	}
	page, err := a.Store.Grants(r.Context(), r.PathValue("fund_id"), f, q.Get("after"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// beneficiary serves GET /v1/funds/{fund_id}/beneficiaries/{beneficiary_ref}.
func (a *API) beneficiary(w http.ResponseWriter, r *http.Request) {
	b, err := a.Store.Beneficiary(r.Context(), r.PathValue("fund_id"), r.PathValue("beneficiary_ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
