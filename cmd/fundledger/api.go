package main

import (
	"net/http"

	"github.com/fundledger/fundledger/console"
	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// apiHandler serves the read API under /v1 (CONTRACT.md section 7) and
// the web console at / (package console), open: the demo listens on
// loopback.
func apiHandler(store *postgres.Store) http.Handler {
	return (&httpapi.API{Store: store, Pages: console.New(store, nil)}).Handler()
}
