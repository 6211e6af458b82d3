package testenv

import (
	"io"
	"net/http"
	"time"
)

// URL is the address of path on the running service's HTTP server.
func (l *Ledger) URL(path string) string {
	return "http://" + l.Service.HTTPAddr + path
}

// Get requests path from the running service over real HTTP and returns
// the status, the headers and the whole body. A transport failure fails
// the test.
func (l *Ledger) Get(path string) (int, http.Header, []byte) {
	l.T.Helper()
	return l.Do(http.MethodGet, path)
}

// Do sends a request without a body to path and reads the whole answer.
func (l *Ledger) Do(method, path string) (int, http.Header, []byte) {
	l.T.Helper()
	req, err := http.NewRequest(method, l.URL(path), nil)
	if err != nil {
		l.T.Fatalf("%s %s: %v", method, path, err)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		l.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		l.T.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, body
}
