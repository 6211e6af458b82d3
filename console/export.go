package console

// The downloads: the CLI's CSV and XLSX exports (package export), served
// behind the access check of the API data each holds (httpapi/routes.go).
// A file is written whole into memory first, so a failed read is an error
// page with its status, never half a file.

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/fundledger/fundledger/export"
	"github.com/fundledger/fundledger/httpapi"
)

// formatOf reads the {format} path segment: csv or xlsx.
func (c *Console) formatOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	f := r.PathValue("format")
	if f != export.CSV && f != export.XLSX {
		c.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("no export in format %q: csv or xlsx", f))
		return "", false
	}
	return f, true
}

// download writes a report to a buffer and sends it as an attachment named
// name.format; a failed write is the error page of its cause.
func (c *Console) download(w http.ResponseWriter, r *http.Request, format, name string, write func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		c.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", export.ContentType(format))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "." + format}))
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Authorization, Cookie")
	securityHeaders(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// StatementExport is GET /funds/{fund_id}/journal/statement/{format}: the
// account statement of the journal page's from and to (both required: a
// date is its midnight in FUNDLEDGER_TZ, to is exclusive as on the page).
func (c *Console) StatementExport(w http.ResponseWriter, r *http.Request) {
	format, ok := c.formatOf(w, r)
	if !ok {
		return
	}
	filter, err := httpapi.JournalFilterOf(r)
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	if filter.From.IsZero() || filter.To.IsZero() {
		c.errorPage(w, r, http.StatusBadRequest, "an account statement needs from and to")
		return
	}
	id := r.PathValue("fund_id")
	q := r.URL.Query()
	name := fmt.Sprintf("statement-%s-%s-%s", id, fileDay(q.Get("from"), filter.From), fileDay(q.Get("to"), filter.To))
	c.download(w, r, format, name, func(b *bytes.Buffer) error {
		return export.Statement(r.Context(), c.store, b, format, id, filter.From, filter.To)
	})
}

// fileDay is a query time for a file name: the date as given, else the
// instant's day.
func fileDay(given string, t time.Time) string {
	if len(given) == len(time.DateOnly) {
		return given
	}
	return t.Format("20060102T150405")
}

// GrantsExport is GET /funds/{fund_id}/grants/register/{format}: the
// grants register.
func (c *Console) GrantsExport(w http.ResponseWriter, r *http.Request) {
	format, ok := c.formatOf(w, r)
	if !ok {
		return
	}
	id := r.PathValue("fund_id")
	c.download(w, r, format, "grants-"+id, func(b *bytes.Buffer) error {
		return export.Grants(r.Context(), c.store, b, format, id)
	})
}

// PeriodExport is GET /funds/{fund_id}/periods/{period}/export/{format}:
// the fund's period report.
func (c *Console) PeriodExport(w http.ResponseWriter, r *http.Request) {
	format, ok := c.formatOf(w, r)
	if !ok {
		return
	}
	id, period := r.PathValue("fund_id"), r.PathValue("period")
	if !periodText.MatchString(period) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("period %q is not a month (YYYY-MM)", period))
		return
	}
	c.download(w, r, format, "period-"+id+"-"+period, func(b *bytes.Buffer) error {
		return export.Period(r.Context(), c.store, b, format, id, period)
	})
}

// CityPeriodExport is GET /periods/{period}/export/{format}: the city-wide
// view of the month over the token's funds only, as GET /v1/periods/{period}.
func (c *Console) CityPeriodExport(w http.ResponseWriter, r *http.Request) {
	format, ok := c.formatOf(w, r)
	if !ok {
		return
	}
	period := r.PathValue("period")
	if !periodText.MatchString(period) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("period %q is not a month (YYYY-MM)", period))
		return
	}
	sees := httpapi.PrincipalOf(r).SeesFund
	c.download(w, r, format, "city-"+period, func(b *bytes.Buffer) error {
		return export.City(r.Context(), c.store, b, format, period, sees)
	})
}

// ReconciliationExport is GET
// /funds/{fund_id}/reconciliations/{seq}/export/{format}: the bank
// reconciliation statement of report seq, or of the latest.
func (c *Console) ReconciliationExport(w http.ResponseWriter, r *http.Request) {
	format, ok := c.formatOf(w, r)
	if !ok {
		return
	}
	id, s := r.PathValue("fund_id"), r.PathValue("seq")
	var seq int64
	if s != "latest" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("reconciliation %q is not a reconciliation_seq (1, 2, ...) nor latest", s))
			return
		}
		seq = n
	}
	zone, err := httpapi.Zone()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.download(w, r, format, "reconciliation-"+id+"-"+s, func(b *bytes.Buffer) error {
		return export.Reconciliation(r.Context(), c.store, b, format, id, seq, zone)
	})
}
