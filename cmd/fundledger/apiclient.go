package main

// The read commands in their second mode: through the read API with a
// bearer token (--api URL, --token-file or FUNDLEDGER_TOKEN), the way
// officers and auditors read the books from their own machines, within
// what their token allows. Without --api they read the ledger's database
// (DATABASE_URL), the operator's way on the ledger's host.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// exitDenied: the read API refused the token (401) or its rights (403).
const exitDenied = 5

// booksReader is what the read commands ask of the books: the ledger's
// database (*postgres.Store) or the read API (*apiClient).
type booksReader interface {
	ListFunds(ctx context.Context) ([]postgres.FundSummary, error)
	FundBalances(ctx context.Context, fundID string, asOfSeq *int64) (*postgres.Balances, error)
	Journal(ctx context.Context, fundID string, afterSeq int64, limit int) (*postgres.JournalPage, error)
	Grant(ctx context.Context, fundID, grantID string) (*postgres.Grant, error)
	Rejections(ctx context.Context, fundID string, after int64, limit int) (*postgres.RejectionPage, error)
	Snapshot(ctx context.Context, fundID string, seq int64) ([]byte, error)
	Snapshots(ctx context.Context, fundID string, after int64, limit int) (*postgres.SnapshotPage, error)
	Close()
}

var _ booksReader = (*postgres.Store)(nil)

// apiClient reads the books through the read API.
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// newAPIClient checks the URL and reads the token: --token-file, else
// FUNDLEDGER_TOKEN, else none (an open API on loopback needs none).
func newAPIClient(rawURL, tokenFile string) (*apiClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{"--api wants the read API's base URL, http(s)://host:port"}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	token := os.Getenv("FUNDLEDGER_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = string(b)
	}
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bearer "))
	if strings.ContainsAny(token, " \r\n\t") {
		return nil, usageError{"the token (--token-file or FUNDLEDGER_TOKEN) holds spaces or several lines: want one JWT"}
	}
	return &apiClient{base: u, token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

func (c *apiClient) Close() {}

// get GETs path?query and returns the body of a 200; any other status is
// an error of the kind the store would give (404 not found, 400
// invalid), or a refusal (401, 403) that says what it means.
func (c *apiClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL's password, if any, stays out of the message.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("read API at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read API: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return body, nil
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
		if len(e.Error) > 200 {
			e.Error = e.Error[:200]
		}
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, ledger.Errorf(ledger.KindNotFound, "%s", e.Error)
	case http.StatusBadRequest:
		return nil, ledger.Errorf(ledger.KindInvalid, "%s", e.Error)
	case http.StatusUnauthorized:
		how := "the token was refused: it may have expired, or not be for this ledger (issuer, audience); get a new one"
		if c.token == "" {
			how = "the read API wants a token: give it with --token-file FILE or FUNDLEDGER_TOKEN"
		}
		return nil, exitError{exitDenied, fmt.Errorf("401 unauthorized (%s): %s", e.Error, how)}
	case http.StatusForbidden:
		return nil, exitError{exitDenied, fmt.Errorf("403 forbidden (%s): your token is valid, but its roles do not allow this; ask whoever gives out the ledger's roles", e.Error)}
	}
	return nil, fmt.Errorf("read API answered %s: %s", resp.Status, e.Error)
}

func (c *apiClient) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	body, err := c.get(ctx, path, q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("read API %s: %w", path, err)
	}
	return nil
}

func fundPath(fundID string, rest ...string) string {
	p := "/v1/funds/" + url.PathEscape(fundID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func paged(after int64, limit int, cursor string) url.Values {
	q := url.Values{}
	if after > 0 {
		q.Set(cursor, strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

func (c *apiClient) ListFunds(ctx context.Context) ([]postgres.FundSummary, error) {
	var v struct {
		Funds []postgres.FundSummary `json:"funds"`
	}
	err := c.getJSON(ctx, "/v1/funds", nil, &v)
	return v.Funds, err
}

func (c *apiClient) FundBalances(ctx context.Context, fundID string, asOfSeq *int64) (*postgres.Balances, error) {
	q := url.Values{}
	if asOfSeq != nil {
		q.Set("as_of_journal_seq", strconv.FormatInt(*asOfSeq, 10))
	}
	var b postgres.Balances
	return &b, c.getJSON(ctx, fundPath(fundID, "balances"), q, &b)
}

func (c *apiClient) Journal(ctx context.Context, fundID string, afterSeq int64, limit int) (*postgres.JournalPage, error) {
	var raw struct {
		Transactions []json.RawMessage `json:"transactions"`
		NextAfterSeq int64             `json:"next_after_seq"`
	}
	if err := c.getJSON(ctx, fundPath(fundID, "journal"), paged(afterSeq, limit, "after_seq"), &raw); err != nil {
		return nil, err
	}
	page := &postgres.JournalPage{Transactions: []*ledger.Txn{}, NextAfterSeq: raw.NextAfterSeq}
	for _, m := range raw.Transactions {
		p, err := events.DecodePosted(m)
		if err != nil {
			return nil, fmt.Errorf("read API journal: %w", err)
		}
		page.Transactions = append(page.Transactions, ledger.TxnFromPosted(p))
	}
	return page, nil
}

func (c *apiClient) Grant(ctx context.Context, fundID, grantID string) (*postgres.Grant, error) {
	var g postgres.Grant
	return &g, c.getJSON(ctx, fundPath(fundID, "grants", grantID), nil, &g)
}

func (c *apiClient) Rejections(ctx context.Context, fundID string, after int64, limit int) (*postgres.RejectionPage, error) {
	q := paged(after, limit, "after")
	if fundID != "" {
		q.Set("fund_id", fundID)
	}
	var p postgres.RejectionPage
	return &p, c.getJSON(ctx, "/v1/rejections", q, &p)
}

func (c *apiClient) Snapshot(ctx context.Context, fundID string, seq int64) ([]byte, error) {
	which := "latest"
	if seq > 0 {
		which = strconv.FormatInt(seq, 10)
	}
	return c.get(ctx, fundPath(fundID, "snapshots", which), nil)
}

func (c *apiClient) Snapshots(ctx context.Context, fundID string, after int64, limit int) (*postgres.SnapshotPage, error) {
	var p postgres.SnapshotPage
	return &p, c.getJSON(ctx, fundPath(fundID, "snapshots"), paged(after, limit, "after"), &p)
}
