package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger"
)

// TestAccessLogChain: the access log's entries, written by batches of
// concurrent requests, form one hash chain over the documented bytes;
// verify checks it and finds an entry changed, removed or added outside
// the chain.
func TestAccessLogChain(t *testing.T) {
	l := startAuth(t, authOptions{accessLog: &httpapi.AccessLogOptions{}})
	tok := l.token([]string{"reporting"}, []string{"*"})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				l.get(fmt.Sprintf("/v1/funds?g=%d&i=%d", g, i), tok)
			}
		}()
	}
	wg.Wait()
	auditor := l.token([]string{"auditor"}, []string{"*"})
	code, _, body := l.get("/v1/access-log?limit=1000", auditor)
	if code != 200 {
		t.Fatalf("access log: %d %s", code, body)
	}
	// The chain over the documented bytes, recomputed from the page.
	var page struct {
		Entries []struct {
			Seq          int64
			Time, Sub    string
			Roles        []string
			Method, Path string
			Status       int
			HashJSON     string `json:"hash"`
			PrevHashJSON string `json:"prev_hash"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Entries) < 100 {
		t.Fatalf("page: %v, %d entries", err, len(page.Entries))
	}
	prev := strings.Repeat("0", 64)
	for i, e := range page.Entries {
		in := "fundledger-access-v1\n" + strconv.FormatInt(e.Seq, 10) + "\n" + e.PrevHashJSON + "\n" + e.Time + "\n" + e.Sub + "\n" +
			strconv.Itoa(len(e.Roles)) + "\n"
		for _, r := range e.Roles {
			in += r + "\n"
		}
		in += e.Method + "\n" + e.Path + "\n" + strconv.Itoa(e.Status) + "\n"
		sum := sha256.Sum256([]byte(in))
		if e.Seq != int64(i+1) || e.PrevHashJSON != prev || e.HashJSON != hex.EncodeToString(sum[:]) {
			t.Fatalf("entry %d does not chain as documented: %+v", i+1, e)
		}
		prev = e.HashJSON
	}
	ctx := context.Background()
	v, err := l.Service.Store.VerifyAccessLog(ctx)
	if err != nil || len(v.Problems) != 0 || v.Checked < 100 {
		t.Fatalf("clean log: %+v %v", v, err)
	}
	rep, err := l.Service.Store.VerifyAll(ctx, nil)
	if err != nil || !rep.OK || rep.CheckedAccessLog < 100 {
		t.Fatalf("verify of everything: ok %v, access log %d, %v, %+v", rep.OK, rep.CheckedAccessLog, err, rep.Problems)
	}

	for _, c := range []struct {
		name string
		sql  string
		seq  int64
	}{
		{"a name changed", `UPDATE access_log SET sub = 'someone-else' WHERE seq = 10`, 10},
		{"an entry removed", `DELETE FROM access_log WHERE seq = 20`, 21},
		{"an entry added outside the chain", `INSERT INTO access_log (seq, time, sub, roles, method, path, status) OVERRIDING SYSTEM VALUE
			VALUES (100000, now(), 'x', '{}', 'GET', '/', 200)`, 100000},
	} {
		for _, sql := range []string{`ALTER TABLE access_log DISABLE TRIGGER USER`, c.sql, `ALTER TABLE access_log ENABLE TRIGGER USER`} {
			if _, err := l.DB.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		rep, err := l.Service.Store.VerifyAll(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range rep.Problems {
			found = found || (p.Kind == ledger.ProblemAccessLog && p.Seq == c.seq)
		}
		if rep.OK || !found {
			t.Fatalf("%s: ok %v, want an access_log problem at %d: %+v", c.name, rep.OK, c.seq, rep.Problems)
		}
		t.Logf("%s: found %s", c.name, rep.Problems[0])
	}
}
