package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RejectionView is a refused event as published on ledger.<fund>.rejected
// and served by the read API (CONTRACT.md section 4). Outbound contract
// version 1.
type RejectionView struct {
	Seq         int64       `json:"seq,omitempty"`
	EventID     string      `json:"event_id"`
	Type        string      `json:"type"`
	FundID      string      `json:"fund_id"`
	Code        Code        `json:"code"`
	Message     string      `json:"message"`
	Lines       []LineError `json:"lines"`
	ReceivedAt  string      `json:"received_at"`
	Raw         string      `json:"raw"`
	RawEncoding string      `json:"raw_encoding"`
	// RawHeaders are the headers of a binary-mode CloudEvent, kept beside
	// its body (which is Raw); absent for a structured one.
	RawHeaders map[string][]string `json:"raw_headers,omitempty"`
}

// NewRejectionView builds the wire shape of a rejection; receivedAt is
// already formatted.
func NewRejectionView(seq int64, eventID, typ, fundID string, rej *Rejection, receivedAt string, raw []byte, header map[string][]string) RejectionView {
	text, enc := RawText(raw)
	lines := rej.Lines
	if lines == nil {
		lines = []LineError{}
	}
	return RejectionView{Seq: seq, EventID: eventID, Type: typ, FundID: fundID, Code: rej.Code, Message: rej.Message,
		Lines: lines, ReceivedAt: receivedAt, Raw: text, RawEncoding: enc, RawHeaders: header}
}

// EncodeRejection is the payload published on ledger.<fund>.rejected.
func EncodeRejection(v RejectionView) []byte {
	b, _ := json.Marshal(v) // strings, ints and string slices: cannot fail
	return b
}

// RawText is a message as received: as text when it is UTF-8 (and free of
// NUL, which PostgreSQL text cannot hold), else base64; the second result
// names the encoding ("utf-8" or "base64").
func RawText(b []byte) (string, string) {
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// RejectedMsgID is the Nats-Msg-Id of an event's rejection: by envelope id,
// or by stream sequence when the message had no readable id.
func RejectedMsgID(eventID string, streamSeq uint64) string {
	if eventID == "" {
		return "rejected:stream:" + strconv.FormatUint(streamSeq, 10)
	}
	return "rejected:" + eventID
}

// SnapshotMsgID is the Nats-Msg-Id of a snapshot.
func SnapshotMsgID(fundID string, snapshotSeq int64) string {
	return "snapshot:" + fundID + ":" + strconv.FormatInt(snapshotSeq, 10)
}

// BinaryHeaders returns a message's headers when it is a binary-mode
// CloudEvent (it has a ce-specversion header), else nil: what a rejection
// keeps beside the raw body.
func BinaryHeaders(h map[string][]string) map[string][]string {
	for k := range h {
		if strings.EqualFold(k, "ce-specversion") {
			return h
		}
	}
	return nil
}

// SubjectType is the <type> part of an inbound subject
// fund.<fund_id>.<type>, or "".
func SubjectType(subject string) string {
	rest, ok := strings.CutPrefix(subject, "fund.")
	if !ok {
		return ""
	}
	_, typ, _ := strings.Cut(rest, ".")
	return typ
}
