package httpapi

import (
	"net/http"
	"time"
)

// NewPrincipalForTest makes a principal as a verified token would.
func NewPrincipalForTest(sub string, roles, funds []string) *Principal {
	return newPrincipal(sub, roles, funds)
}

// RecordForTest records a request as guard does: a place reserved, the
// entry queued.
func RecordForTest(a *API, r *http.Request, p *Principal, status int) {
	if !a.AccessLog.reserve(r.Context()) {
		panic("access log full")
	}
	a.record(r, time.Now(), p, status)
}
