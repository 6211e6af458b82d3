package httpapi_test

// Inclusion and consistency proofs on the fund of a million transactions
// (docs/performance.md, "Merkle proofs on a big fund"):
//
//	FUNDLEDGER_BIGFUND_KEEP=1 go test -run '^$' -bench BigFundProofs -benchtime 500x -timeout 60m ./httpapi/

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/jackc/pgx/v5"
)

// proofHashes counts the hashes of a proof's answer and records its size.
func proofHashes(key string, bytes *int) func([]byte) int {
	return func(body []byte) int {
		*bytes += len(body)
		var p map[string]json.RawMessage
		var hs []string
		if json.Unmarshal(body, &p) != nil || json.Unmarshal(p[key], &hs) != nil {
			return -1
		}
		return len(hs)
	}
}

// BenchmarkBigFundProofs: GET .../proofs/inclusion and .../consistency on
// the big fund, for random leaves and tree sizes; items is the number of
// hashes in the proof, body-bytes the answer's size.
func BenchmarkBigFundProofs(b *testing.B) {
	dbURL, n := bigFund(b)
	base, client := bigServer(b, dbURL)
	checkBigProofs(b, dbURL, base, client, n)
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name, key string
		query     func() string
	}{
		{"inclusion/any-seq-head", "audit_path", func() string {
			return fmt.Sprintf("inclusion?seq=%d&tree_size=%d", 1+rng.Int64N(n), n)
		}},
		{"inclusion/any-seq-any-size", "audit_path", func() string {
			m := 1 + rng.Int64N(n)
			return fmt.Sprintf("inclusion?seq=%d&tree_size=%d", 1+rng.Int64N(m), m)
		}},
		{"consistency/any-to-head", "proof", func() string {
			return fmt.Sprintf("consistency?from=%d&to=%d", 1+rng.Int64N(n), n)
		}},
		{"consistency/any-pair", "proof", func() string {
			to := 1 + rng.Int64N(n)
			return fmt.Sprintf("consistency?from=%d&to=%d", 1+rng.Int64N(to), to)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			bytes, calls := 0, 0
			measure(b, client, base, func(int) string { return "/v1/funds/" + bigFundID + "/proofs/" + c.query() },
				func(body []byte) int { calls++; return proofHashes(c.key, &bytes)(body) })
			b.ReportMetric(float64(bytes)/float64(calls), "body-bytes")
		})
	}
}

// checkBigProofs checks, before timing them, that the big fund's proofs
// verify against roots computed from its journal's hashes alone.
func checkBigProofs(b *testing.B, dbURL, base string, client *http.Client, n int64) {
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT hash FROM journal WHERE fund_id = $1 ORDER BY seq`, bigFundID)
	if err != nil {
		b.Fatal(err)
	}
	sizes := map[int64]merkle.Hash{1: {}, 1000: {}, 65536: {}, 654321: {}, n - 1: {}, n: {}}
	leaves := map[int64]merkle.Hash{}
	var f merkle.Frontier
	var h []byte
	if _, err := pgx.ForEachRow(rows, []any{&h}, func() error {
		f.Append(merkle.LeafHash(h), nil)
		size := int64(f.Size)
		if _, ok := sizes[size]; ok {
			sizes[size] = f.Root()
		}
		if size%99991 == 1 || size == n {
			leaves[size] = merkle.LeafHash(h)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	get := func(path string, v any) {
		resp, err := client.Get(base + "/v1/funds/" + bigFundID + "/proofs/" + path)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
	}
	parse := func(hs []string) []merkle.Hash {
		out := make([]merkle.Hash, len(hs))
		for i, s := range hs {
			if out[i], err = merkle.ParseHash(s); err != nil {
				b.Fatal(err)
			}
		}
		return out
	}
	checked := 0
	for size, root := range sizes {
		for seq, leaf := range leaves {
			if seq > size {
				continue
			}
			var p struct {
				AuditPath []string `json:"audit_path"`
			}
			get(fmt.Sprintf("inclusion?seq=%d&tree_size=%d", seq, size), &p)
			if err := merkle.VerifyInclusion(uint64(seq-1), uint64(size), leaf, parse(p.AuditPath), root); err != nil {
				b.Fatalf("inclusion of %d in %d: %v", seq, size, err)
			}
			checked++
		}
		for from, r1 := range sizes {
			if from > size {
				continue
			}
			var p struct {
				Proof []string `json:"proof"`
			}
			get(fmt.Sprintf("consistency?from=%d&to=%d", from, size), &p)
			if err := merkle.VerifyConsistency(uint64(from), uint64(size), parse(p.Proof), r1, root); err != nil {
				b.Fatalf("consistency %d to %d: %v", from, size, err)
			}
			checked++
		}
	}
	b.Logf("checked %d proofs of the big fund against roots computed from its journal", checked)
}
