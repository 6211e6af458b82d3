package main

import (
	"net/http"

	"github.com/fundledger/fundledger/ledger/postgres"
)

// apiHandler serves the read API under /v1.
func apiHandler(store *postgres.Store) http.Handler {
	return http.NotFoundHandler()
}
