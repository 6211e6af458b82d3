package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The access log's hash chain (docs/audit.md section 13): every entry
// carries the hash of the one before, so a changed, removed or reordered
// entry is found like in the journal.

// AccessLogVersion is the first line of an access log entry's hash input.
const AccessLogVersion = "fundledger-access-v1"

// AccessLogEntry is one access log entry as chained.
type AccessLogEntry struct {
	Seq      int64
	Time     time.Time
	Sub      string
	Roles    []string
	Method   string
	Path     string
	Status   int
	PrevHash []byte
	Hash     []byte
}

// AccessLogText is a value as the access log keeps it: a control
// character (a line feed in a token's sub, say) becomes U+FFFD, so that
// every value is one line of the hash input.
func AccessLogText(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// AccessLogHashInput is the exact byte string hashed for an entry: UTF-8
// lines, each ended by a line feed.
func AccessLogHashInput(e *AccessLogEntry) []byte {
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	line(AccessLogVersion)
	line(strconv.FormatInt(e.Seq, 10))
	line(hex.EncodeToString(e.PrevHash))
	line(TimeText(e.Time))
	line(e.Sub)
	line(strconv.Itoa(len(e.Roles)))
	for _, r := range e.Roles {
		line(r)
	}
	line(e.Method)
	line(e.Path)
	line(strconv.Itoa(e.Status))
	return []byte(b.String())
}

// HashAccessLogEntry is SHA-256 of AccessLogHashInput.
func HashAccessLogEntry(e *AccessLogEntry) []byte {
	sum := sha256.Sum256(AccessLogHashInput(e))
	return sum[:]
}

// AccessLogVerifier checks the access log's chain, read in seq order.
// Entries before the first hashed one were written before the chain
// existed and are only counted; after it, every entry must follow the one
// before: the next seq, its hash as prev_hash, and its own hash.
type AccessLogVerifier struct {
	Checked  int64 // chained entries checked
	Unhashed int64 // entries from before the chain
	Problems []Problem
	Omitted  int
	HeadSeq  int64
	Head     []byte

	started bool
}

// NewAccessLogVerifier starts a check.
func NewAccessLogVerifier() *AccessLogVerifier { return &AccessLogVerifier{Head: GenesisHash} }

func (v *AccessLogVerifier) bad(seq int64, format string, args ...any) {
	if len(v.Problems) >= MaxProblems {
		v.Omitted++
		return
	}
	v.Problems = append(v.Problems, Problem{Seq: seq, Kind: ProblemAccessLog, Message: fmt.Sprintf(format, args...)})
}

// Entry checks the next entry as stored.
func (v *AccessLogVerifier) Entry(e *AccessLogEntry) {
	if len(e.Hash) == 0 && !v.started {
		v.Unhashed++
		v.HeadSeq = e.Seq
		return
	}
	v.Checked++
	if !v.started {
		v.started = true
		if !bytes.Equal(e.PrevHash, GenesisHash) {
			v.bad(e.Seq, "the first chained entry's prev_hash is %s, not 64 zeros: entries before it were removed", hex.EncodeToString(e.PrevHash))
		}
	} else {
		switch {
		case e.Seq != v.HeadSeq+1:
			v.bad(e.Seq, "entry %d follows entry %d: entries are missing or reordered", e.Seq, v.HeadSeq)
		case !bytes.Equal(e.PrevHash, v.Head):
			v.bad(e.Seq, "prev_hash %s is not the hash of entry %d (%s)", hex.EncodeToString(e.PrevHash), v.HeadSeq, hex.EncodeToString(v.Head))
		}
	}
	if got := HashAccessLogEntry(e); !bytes.Equal(got, e.Hash) {
		v.bad(e.Seq, "stored hash %s, but the entry hashes to %s: it was changed after it was written", hex.EncodeToString(e.Hash), hex.EncodeToString(got))
	}
	v.HeadSeq, v.Head = e.Seq, e.Hash
}
