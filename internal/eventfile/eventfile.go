// Package eventfile reads the JSON-lines files `fundledger publish` sends
// to JetStream: one event per line, each line either a bare CloudEvents
// envelope or a small wrapper that says where it goes.
//
// A line is one of:
//
//   - a bare envelope, {"specversion": "1.0", "id": ..., "type": ..., ...}:
//     published on fund.<fund>.<type>, where <fund> is the default fund
//     (publish --fund) or, when none is given, data.fund_id (which every
//     fund.opened carries);
//   - {"fund": "<fund_id>", "event": {envelope}}: published on
//     fund.<fund_id>.<type of the envelope>;
//   - {"subject": "<subject>", "event": {envelope}}: published on that
//     subject as it is, even one the ledger will refuse (a type that
//     differs from the envelope's, say);
//   - {"subject": "<subject>", "raw": "<text>"}: the text published as it
//     is, for messages that are not JSON at all.
//
// A wrapper may add "msg_id" to set the Nats-Msg-Id header; otherwise it
// is the envelope's "id", and a message with neither has none. The event
// is published byte for byte as it appears in the file, never re-encoded.
// Empty lines and lines whose first non-blank character is '#' are
// skipped.
package eventfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fundledger/fundledger/events"
)

// Message is one line of the file, ready to publish.
type Message struct {
	Line    int // 1-based line number in the file
	Subject string
	MsgID   string // Nats-Msg-Id; empty for none
	Data    []byte
}

// LineError is a line that cannot be published, with its number.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Reader reads messages from a JSON-lines stream.
type Reader struct {
	r           *bufio.Reader
	line        int
	defaultFund string
}

// NewReader reads r. defaultFund, when not empty, is the fund of every
// bare envelope.
func NewReader(r io.Reader, defaultFund string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 1<<20), defaultFund: defaultFund}
}

// Next returns the next message, io.EOF after the last. A *LineError
// names a line that cannot be published; reading may go on after it.
func (r *Reader) Next() (Message, error) {
	for {
		b, err := r.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Message{}, io.EOF
			}
			return Message{}, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Message{}, err
		}
		r.line++
		b = bytes.TrimRight(b, "\r\n")
		t := bytes.TrimSpace(b)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		m, perr := r.parse(t)
		if perr != nil {
			return Message{}, &LineError{Line: r.line, Err: perr}
		}
		m.Line = r.line
		return m, nil
	}
}

// wrapper is a line that says where its event goes.
type wrapper struct {
	Subject *string         `json:"subject"`
	Fund    *string         `json:"fund"`
	Event   json.RawMessage `json:"event"`
	Raw     *string         `json:"raw"`
	MsgID   *string         `json:"msg_id"`
}

// envelopeHead is what publishing needs to know of an envelope.
type envelopeHead struct {
	ID   any             `json:"id"`
	Type any             `json:"type"`
	Data json.RawMessage `json:"data"`
}

func (r *Reader) parse(line []byte) (Message, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(line, &keys); err != nil {
		return Message{}, fmt.Errorf("not a JSON object: %v", err)
	}
	_, hasEvent := keys["event"]
	_, hasRaw := keys["raw"]
	if !hasEvent && !hasRaw {
		return r.bare(line)
	}
	for k := range keys {
		switch k {
		case "subject", "fund", "event", "raw", "msg_id":
		default:
			return Message{}, fmt.Errorf("unknown wrapper field %q (want subject, fund, event, raw, msg_id)", k)
		}
	}
	var w wrapper
	if err := json.Unmarshal(line, &w); err != nil {
		return Message{}, fmt.Errorf("wrapper: %v", err)
	}
	if hasEvent == hasRaw {
		return Message{}, errors.New(`a wrapper has exactly one of "event" and "raw"`)
	}
	var m Message
	if w.MsgID != nil {
		m.MsgID = *w.MsgID
	}
	if hasRaw {
		if w.Subject == nil || w.Raw == nil {
			return Message{}, errors.New(`"raw" needs "subject" and a string`)
		}
		m.Subject, m.Data = *w.Subject, []byte(*w.Raw)
		return m, checkSubject(m.Subject)
	}
	head, err := headOf(w.Event)
	if err != nil {
		return Message{}, err
	}
	if w.MsgID == nil {
		m.MsgID = head.id
	}
	m.Data = []byte(w.Event)
	switch {
	case w.Subject != nil && w.Fund != nil:
		return Message{}, errors.New(`give "subject" or "fund", not both`)
	case w.Subject != nil:
		m.Subject = *w.Subject
		return m, checkSubject(m.Subject)
	case w.Fund != nil:
		if !events.ValidFundID(*w.Fund) {
			return Message{}, fmt.Errorf("fund %q is not a valid fund id", *w.Fund)
		}
		if head.typ == "" {
			return Message{}, errors.New(`the event has no string "type" to make its subject from; give "subject"`)
		}
		m.Subject = events.InboundSubject(*w.Fund, head.typ)
		return m, nil
	}
	return Message{}, errors.New(`a wrapper with "event" needs "fund" or "subject"`)
}

func (r *Reader) bare(line []byte) (Message, error) {
	head, err := headOf(line)
	if err != nil {
		return Message{}, err
	}
	if head.typ == "" {
		return Message{}, errors.New(`not an envelope: no string "type" (wrap it as {"subject": ..., "event": ...} to send it anyway)`)
	}
	fund := r.defaultFund
	if fund == "" {
		fund = head.fundID
	}
	if fund == "" {
		return Message{}, errors.New(`no fund for this envelope: give publish --fund, or wrap it as {"fund": ..., "event": ...}`)
	}
	if !events.ValidFundID(fund) {
		return Message{}, fmt.Errorf("fund %q is not a valid fund id", fund)
	}
	return Message{Subject: events.InboundSubject(fund, head.typ), MsgID: head.id, Data: line}, nil
}

type head struct{ id, typ, fundID string }

func headOf(b []byte) (head, error) {
	var e envelopeHead
	if err := json.Unmarshal(b, &e); err != nil {
		return head{}, fmt.Errorf("event: not a JSON object: %v", err)
	}
	var h head
	h.id, _ = e.ID.(string)
	h.typ, _ = e.Type.(string)
	var data struct {
		FundID any `json:"fund_id"`
	}
	if json.Unmarshal(e.Data, &data) == nil { // data that is not an object names no fund
		h.fundID, _ = data.FundID.(string)
	}
	return h, nil
}

// checkSubject refuses only what NATS cannot publish on: an empty subject,
// white space, or wildcards. A subject the ledger will refuse is allowed
// on purpose.
func checkSubject(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n*>") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return fmt.Errorf("subject %q cannot be published on", s)
	}
	if !strings.HasPrefix(s, "fund.") {
		return fmt.Errorf("subject %q is outside the inbound stream's fund.> subjects", s)
	}
	return nil
}
