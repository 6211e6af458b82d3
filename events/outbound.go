package events

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// This file is the outbound contract for journal transactions, version 1:
// the payload of ledger.<fund>.posted, its Nats-Msg-Id, and the
// transaction of GET /v1/funds/{fund_id}/journal, which is the same JSON
// (CONTRACT.md sections 1 and 7). Changing a field's name, order or
// formatting changes the bytes consumers and auditors have stored: add a
// new version beside this one instead.

// PostedVersion is the version of the posted-transaction shape below.
const PostedVersion = 1

// PostedTxn is a journal transaction as the outbound contract carries it,
// before encoding: plain values, as read from the journal or made by the
// posting rules.
type PostedTxn struct {
	FundID  string
	Seq     int64
	EventID string
	Type    string
	Source  string
	// Time is the recorded time; it is written in UTC with exactly six
	// fraction digits (RecordedTime).
	Time time.Time
	// Refs are the business ids and people named by the event, by key.
	Refs     map[string]string
	PrevHash []byte
	Hash     []byte
	Postings []PostedPosting
}

// PostedPosting is one line of a posted transaction.
type PostedPosting struct {
	Account string
	Side    string // "debit" or "credit"
	Amount  decimal.Decimal
}

// PostedJSON is the wire shape of a posted transaction, field order
// included (encoding/json writes struct fields in declaration order and
// map keys sorted).
type PostedJSON struct {
	Seq      int64             `json:"seq"`
	FundID   string            `json:"fund_id"`
	EventID  string            `json:"event_id"`
	Type     string            `json:"type"`
	Source   string            `json:"source"`
	Time     string            `json:"time"`
	Refs     map[string]string `json:"refs"`
	Hash     string            `json:"hash"`
	PrevHash string            `json:"prev_hash"`
	Postings []PostingJSON     `json:"postings"`
}

// PostingJSON is the wire shape of one posting: the amount a string with
// exactly two places.
type PostingJSON struct {
	Account string `json:"account"`
	Side    string `json:"side"`
	Amount  string `json:"amount"`
}

// RecordedTime is a transaction's recorded time as written on the wire and
// hashed into the chain: RFC 3339 in UTC with exactly six fraction digits.
func RecordedTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// Wire is t in its wire shape. Refs and postings are never null on the
// wire: a transaction without them has {} and [].
func (t PostedTxn) Wire() PostedJSON {
	refs := t.Refs
	if refs == nil {
		refs = map[string]string{}
	}
	ps := make([]PostingJSON, len(t.Postings))
	for i, p := range t.Postings {
		ps[i] = PostingJSON{Account: p.Account, Side: p.Side, Amount: p.Amount.StringFixed(2)}
	}
	return PostedJSON{Seq: t.Seq, FundID: t.FundID, EventID: t.EventID, Type: t.Type, Source: t.Source,
		Time: RecordedTime(t.Time), Refs: refs, Hash: hex.EncodeToString(t.Hash), PrevHash: hex.EncodeToString(t.PrevHash),
		Postings: ps}
}

// EncodePosted is the payload of ledger.<fund>.posted for t, byte for byte
// the transaction the read API's journal serves.
func EncodePosted(t PostedTxn) []byte {
	b, err := json.Marshal(t.Wire())
	if err != nil { // strings, ints and a string map: cannot fail
		panic(fmt.Sprintf("events: encode posted transaction: %v", err))
	}
	return b
}

// DecodePosted reads a posted transaction (a ledger.<fund>.posted payload
// or one transaction of the read API's journal) back into its values, so
// it can be verified. Amounts are read as decimals, not checked as inbound
// money is.
func DecodePosted(b []byte) (PostedTxn, error) {
	var w PostedJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return PostedTxn{}, fmt.Errorf("decode transaction: %w", err)
	}
	t := PostedTxn{FundID: w.FundID, Seq: w.Seq, EventID: w.EventID, Type: w.Type, Source: w.Source, Refs: w.Refs}
	tm, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return PostedTxn{}, fmt.Errorf("decode transaction %d: time: %w", w.Seq, err)
	}
	t.Time = tm.UTC()
	if t.Hash, err = hex.DecodeString(w.Hash); err != nil {
		return PostedTxn{}, fmt.Errorf("decode transaction %d: hash: %w", w.Seq, err)
	}
	if t.PrevHash, err = hex.DecodeString(w.PrevHash); err != nil {
		return PostedTxn{}, fmt.Errorf("decode transaction %d: prev_hash: %w", w.Seq, err)
	}
	for _, p := range w.Postings {
		amt, err := decimal.NewFromString(p.Amount)
		if err != nil {
			return PostedTxn{}, fmt.Errorf("decode transaction %d: amount %q: %w", w.Seq, p.Amount, err)
		}
		t.Postings = append(t.Postings, PostedPosting{Account: p.Account, Side: p.Side, Amount: amt})
	}
	return t, nil
}

// PostedMsgID is the Nats-Msg-Id of a posted transaction's message.
func PostedMsgID(fundID string, seq int64) string {
	return "posted:" + fundID + ":" + strconv.FormatInt(seq, 10)
}

// Queued is an outbound message a commit left for the relay (a rejection,
// a snapshot): its subject, its Nats-Msg-Id and its payload, and Key, by
// which the store that keeps it knows it.
type Queued struct {
	Key     int64
	Subject string
	MsgID   string
	Payload []byte
}

// OutboundFund is the <fund_id> token of an outbound subject
// ledger.<fund_id>.<kind>, or "" when subject has another form.
func OutboundFund(subject string) string {
	rest, ok := strings.CutPrefix(subject, "ledger.")
	if !ok {
		return ""
	}
	fund, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	return fund
}
