package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/internal/testauth"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/lestrrat-go/jwx/v3/jwa"
)

type accessEntry struct {
	Seq    int64    `json:"seq"`
	Time   string   `json:"time"`
	Sub    string   `json:"sub"`
	Roles  []string `json:"roles"`
	Method string   `json:"method"`
	Path   string   `json:"path"`
	Status int      `json:"status"`
}

type accessPage struct {
	Entries   []accessEntry `json:"entries"`
	NextAfter *int64        `json:"next_after"`
}

func (l *authLedger) accessLog(query, token string) accessPage {
	l.t.Helper()
	code, _, body := l.get("/v1/access-log"+query, token)
	if code != http.StatusOK {
		l.t.Fatalf("/v1/access-log%s: %d %s", query, code, body)
	}
	var p accessPage
	if err := json.Unmarshal(body, &p); err != nil || p.NextAfter == nil || p.Entries == nil {
		l.t.Fatalf("/v1/access-log%s: %v %s", query, err, body)
	}
	return p
}

// TestAccessLog: every request that presents a token is recorded, the
// refused ones too, with the holder named only when the signature
// verified; the log pages oldest first, for auditors of every fund only.
func TestAccessLog(t *testing.T) {
	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{}})
	officer := l.token([]string{"officer", "admin"}, []string{fundJ})
	expired := l.key.Sign(t, testauth.Std("late.lu", []string{"auditor"}, []string{"*"}).With("exp", time.Now().Add(-time.Hour).Unix()))
	forged := testauth.NewKey(t, jwa.ES256(), "k1").Sign(t, testauth.Std("mallory", []string{"auditor"}, []string{"*"}))
	auditor := l.key.Sign(t, testauth.Std("audit.ma", []string{"auditor"}, []string{"*"}))

	reqs := []struct {
		path, token string
		status      int
		sub         string
		roles       []string
	}{
		{"/v1/funds/" + fundJ + "/journal?limit=2&after_seq=1", officer, 200, "tester", []string{"officer", "admin"}},
		{"/v1/funds/" + fundJ + "/verify", officer, 403, "tester", []string{"officer", "admin"}},
		{"/v1/funds/" + fundW + "/balances", officer, 404, "tester", []string{"officer", "admin"}},
		{"/v1/funds?x=%C3%A9", expired, 401, "late.lu", []string{"auditor"}},
		{"/v1/funds", forged, 401, "", []string{}},
		{"/v1/funds", "garbage", 401, "", []string{}},
		{"/v1/keys", forged, 200, "", []string{}},
		{"/v1/rejections", "", 401, "", nil}, // no token: not recorded
		{"/v1/access-log", officer, 403, "tester", []string{"officer", "admin"}},
		{"/v1/access-log", l.token([]string{"auditor"}, []string{fundJ}), 403, "tester", []string{"auditor"}},
	}
	before := time.Now().Add(-time.Second)
	for _, r := range reqs {
		if code, _, body := l.get(r.path, r.token); code != r.status {
			t.Fatalf("GET %s: %d %s, want %d", r.path, code, body, r.status)
		}
	}
	p := l.accessLog("", auditor)
	var want []accessEntry
	for _, r := range reqs {
		if r.token != "" {
			want = append(want, accessEntry{Sub: r.sub, Roles: r.roles, Method: "GET", Path: r.path, Status: r.status})
		}
	}
	if len(p.Entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(p.Entries), len(want), p.Entries)
	}
	for i, e := range p.Entries {
		at, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || at.Before(before) || at.After(time.Now()) {
			t.Errorf("entry %d time %q", i, e.Time)
		}
		if i > 0 && e.Seq <= p.Entries[i-1].Seq {
			t.Errorf("entry %d seq %d after %d", i, e.Seq, p.Entries[i-1].Seq)
		}
		w := want[i]
		w.Seq, w.Time = e.Seq, e.Time
		if !reflect.DeepEqual(e, w) {
			t.Errorf("entry %d = %+v\nwant       %+v", i, e, w)
		}
	}
	if *p.NextAfter != p.Entries[len(p.Entries)-1].Seq {
		t.Errorf("next_after %d, want the last seq", *p.NextAfter)
	}

	// Paging: the auditor's own read is recorded too, after the others.
	first := p.Entries[0].Seq
	var paged []accessEntry
	after := first - 1
	for i := 0; i < 30; i++ {
		q := l.accessLog(fmt.Sprintf("?after=%d&limit=3", after), auditor)
		if len(q.Entries) > 3 {
			t.Fatalf("page of %d, limit 3", len(q.Entries))
		}
		if len(q.Entries) == 0 {
			if *q.NextAfter != after {
				t.Errorf("empty page: next_after %d, want %d", *q.NextAfter, after)
			}
			break
		}
		paged = append(paged, q.Entries...)
		after = *q.NextAfter
	}
	if len(paged) < len(want)+1 || paged[len(want)].Path != "/v1/access-log" || paged[len(want)].Sub != "audit.ma" {
		t.Errorf("paged log %+v: want the %d requests, then the auditor's read", paged, len(want))
	}
	l.want("/v1/access-log?limit=1001", auditor, http.StatusBadRequest)
	l.want("/v1/access-log?after=-1", auditor, http.StatusBadRequest)
	l.want("/v1/access-log?limit=abc", officer, http.StatusForbidden)

	// What is queued at a stop is written.
	for i := 0; i < 5; i++ {
		l.get(fmt.Sprintf("/v1/funds?stop=%d", i), officer)
	}
	l.Stop()
	if n := l.Count(`SELECT count(*) FROM access_log WHERE path LIKE '/v1/funds?stop=%'`); n != 5 {
		t.Errorf("after the stop %d of the last 5 requests are in the log, want 5", n)
	}
}

// TestAccessLogAppendOnly: neither the service's role nor the table's
// owner can change or remove an entry; the service's role can add one.
func TestAccessLogAppendOnly(t *testing.T) {
	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{}})
	l.get("/v1/funds", l.token([]string{"reporting"}, []string{"*"}))
	l.accessLog("", l.token([]string{"auditor"}, []string{"*"}))
	ctx := context.Background()
	for _, role := range []string{postgres.AppRole, ""} {
		for _, stmt := range []string{
			`UPDATE access_log SET sub = 'someone else'`,
			`DELETE FROM access_log`,
			`TRUNCATE access_log`,
		} {
			err := func() error {
				tx, err := l.DB.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(ctx)
				if role != "" {
					if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
						t.Fatal(err)
					}
				}
				_, err = tx.Exec(ctx, stmt)
				return err
			}()
			if err == nil {
				t.Errorf("%s as %q: allowed", stmt, role)
			}
		}
	}
	tx, err := l.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+postgres.AppRole); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO access_log (time, sub, roles, method, path, status) VALUES (now(), 'x', '{}', 'GET', '/', 200)`); err != nil {
		t.Errorf("the service's role cannot add an entry: %v", err)
	}
	// The access-log request itself is logged too, by a writer that may
	// not have flushed it yet: count the first request only.
	if n := l.Count(`SELECT count(*) FROM access_log WHERE sub = 'tester' AND path = '/v1/funds'`); n != 1 {
		t.Errorf("%d entries of the first request, want 1", n)
	}
}

// flaky fails every write while down is set.
type flaky struct {
	httpapi.AccessLogStore
	down   atomic.Bool
	writes atomic.Int64
}

func (f *flaky) AppendAccessLog(ctx context.Context, e []postgres.AccessEntry) error {
	if f.down.Load() {
		return errors.New("database unreachable (test)")
	}
	f.writes.Add(1)
	return f.AccessLogStore.AppendAccessLog(ctx, e)
}

// TestAccessLogFullRefuses: while the log cannot be written, requests
// with a token are served until the queue is full, then refused with
// 503 (never served unrecorded); once it can, everything queued is
// written and requests are served again.
func TestAccessLogFullRefuses(t *testing.T) {
	f := &flaky{}
	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{Queue: 3, Wait: 50 * time.Millisecond, Every: 20 * time.Millisecond},
		store: func(s httpapi.AccessLogStore) httpapi.AccessLogStore { f.AccessLogStore = s; return f }})
	tok := l.token([]string{"officer"}, []string{"*"})
	f.down.Store(true)
	for i := 0; i < 3; i++ {
		l.want("/v1/funds", tok, http.StatusOK)
	}
	l.want("/v1/funds", tok, http.StatusServiceUnavailable)
	l.want("/v1/funds", "", http.StatusUnauthorized) // no token: nothing to record
	f.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for l.Count(`SELECT count(*) FROM access_log`) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("queued entries not written once the database came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.want("/v1/funds", tok, http.StatusOK)
	p := l.accessLog("", l.token([]string{"auditor"}, []string{"*"}))
	if len(p.Entries) != 4 {
		t.Errorf("%d entries, want the 4 requests served (the refused one is in the service log)", len(p.Entries))
	}
}

// TestAccessLogConcurrent: many requests at once are all recorded, in
// batches, once each.
func TestAccessLogConcurrent(t *testing.T) {
	f := &flaky{}
	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{},
		store: func(s httpapi.AccessLogStore) httpapi.AccessLogStore { f.AccessLogStore = s; return f }})
	tok := l.token([]string{"reporting"}, []string{"*"})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if code, _, _ := l.get(fmt.Sprintf("/v1/funds?g=%d&i=%d", g, i), tok); code != 200 {
					t.Errorf("status %d", code)
				}
			}
		}()
	}
	wg.Wait()
	p := l.accessLog("?limit=1000", l.token([]string{"auditor"}, []string{"*"}))
	seen := map[string]bool{}
	for _, e := range p.Entries {
		if seen[e.Path] {
			t.Errorf("%s recorded twice", e.Path)
		}
		seen[e.Path] = true
	}
	if len(seen) != 400 {
		t.Errorf("%d requests recorded, want 400", len(seen))
	}
	if w := f.writes.Load(); w >= 400 || w < 1 {
		t.Errorf("%d writes for 400 entries: want batches", w)
	}
}
