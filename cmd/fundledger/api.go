package main

import (
	"net/http"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// apiHandler serves the read API under /v1 (CONTRACT.md section 7).
func apiHandler(store *postgres.Store) http.Handler {
	return httpapi.New(store)
}
