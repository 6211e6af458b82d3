package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// GenesisHash is the prev_hash of every fund's first transaction: 32 zero
// bytes.
var GenesisHash = make([]byte, sha256.Size)

// HashVersion names the hashing scheme; it is the first line hashed.
const HashVersion = "fundledger-txn-v1"

// HashInput is the exact byte string hashed for a transaction. docs/audit.md
// specifies it; change both together (and the version) or never.
//
// Every field is written as UTF-8 text followed by one line feed (0x0A).
// No field can contain a line feed: ids, sources and references are
// validated as printable text, accounts come from the chart.
func HashInput(t *Txn) []byte {
	var b strings.Builder
	b.Grow(256 + 64*len(t.Refs) + 64*len(t.Postings))
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	line(HashVersion)
	line(t.FundID)
	line(strconv.FormatInt(t.Seq, 10))
	line(hex.EncodeToString(t.PrevHash))
	line(t.EventID)
	line(t.Type)
	line(t.Source)
	line(TimeText(t.Time))
	line(strconv.Itoa(len(t.Refs)))
	for _, r := range t.Refs {
		line(r.Key + "=" + r.Value)
	}
	line(strconv.Itoa(len(t.Postings)))
	for _, p := range t.Postings {
		line(p.Account)
		line(string(p.Side))
		line(Money(p.Amount))
	}
	return []byte(b.String())
}

// HashTxn is SHA-256 of HashInput.
func HashTxn(t *Txn) []byte {
	sum := sha256.Sum256(HashInput(t))
	return sum[:]
}

// SortRefs orders references by key, then value, as they are hashed.
func SortRefs(refs []Ref) {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Key != refs[j].Key {
			return refs[i].Key < refs[j].Key
		}
		return refs[i].Value < refs[j].Value
	})
}
