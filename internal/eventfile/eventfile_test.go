package eventfile

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	env := `{"specversion": "1.0", "id": "e-1", "type": "grant.approved", "data": {"grant_id": "g"}}`
	opened := `{"specversion": "1.0", "id": "e-2", "type": "fund.opened", "data": {"fund_id": "city-care"}}`
	cases := []struct {
		name, line, defaultFund string
		subject, msgID, data    string // data "" means the line itself
		err                     string
	}{
		{name: "bare envelope with --fund", line: env, defaultFund: "jiangjin-care", subject: "fund.jiangjin-care.grant.approved", msgID: "e-1"},
		{name: "fund.opened names its fund", line: opened, subject: "fund.city-care.fund.opened", msgID: "e-2"},
		{name: "--fund wins over data.fund_id", line: opened, defaultFund: "other", subject: "fund.other.fund.opened", msgID: "e-2"},
		{name: "bare envelope without a fund", line: env, err: "no fund"},
		{name: "wrapper with fund", line: `{"fund": "jiangjin-care", "event": ` + env + `}`, subject: "fund.jiangjin-care.grant.approved", msgID: "e-1", data: env},
		{name: "wrapper with subject, kept as given", line: `{"subject": "fund.x.other.type", "event": ` + env + `}`, subject: "fund.x.other.type", msgID: "e-1", data: env},
		{name: "wrapper with msg_id", line: `{"fund": "f", "msg_id": "m-9", "event": ` + env + `}`, subject: "fund.f.grant.approved", msgID: "m-9", data: env},
		{name: "raw text", line: `{"subject": "fund.f.x", "raw": "not json", "msg_id": "r"}`, subject: "fund.f.x", msgID: "r", data: "not json"},
		{name: "event bytes are kept exactly", line: `{"fund":"f","event":{"type":"t",  "id" : "a"}}`, subject: "fund.f.t", msgID: "a", data: `{"type":"t",  "id" : "a"}`},
		{name: "not JSON", line: `nope`, err: "not a JSON object"},
		{name: "no type", line: `{"id": "x", "data": {}}`, defaultFund: "f", err: `no string "type"`},
		{name: "bad fund", line: `{"fund": "Bad Fund", "event": ` + env + `}`, err: "not a valid fund id"},
		{name: "bad default fund", line: env, defaultFund: "Bad", err: "not a valid fund id"},
		{name: "both subject and fund", line: `{"fund": "f", "subject": "fund.f.x", "event": ` + env + `}`, err: "not both"},
		{name: "event and raw", line: `{"subject": "fund.f.x", "raw": "a", "event": ` + env + `}`, err: "exactly one"},
		{name: "unknown wrapper field", line: `{"fund": "f", "evnt": 1, "event": ` + env + `}`, err: "unknown wrapper field"},
		{name: "raw without subject", line: `{"raw": "a"}`, err: `needs "subject"`},
		{name: "wildcard subject", line: `{"subject": "fund.*.x", "raw": "a"}`, err: "cannot be published"},
		{name: "subject outside fund.>", line: `{"subject": "ledger.f.posted", "raw": "a"}`, err: "outside"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(strings.NewReader("# comment\n\n"+c.line+"\r\n"), c.defaultFund)
			m, err := r.Next()
			if c.err != "" {
				var le *LineError
				if !errors.As(err, &le) || le.Line != 3 || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want a line 3 error containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.data
			if want == "" {
				want = c.line
			}
			if m.Line != 3 || m.Subject != c.subject || m.MsgID != c.msgID || string(m.Data) != want {
				t.Fatalf("got line %d %q %q %q\nwant line 3 %q %q %q", m.Line, m.Subject, m.MsgID, m.Data, c.subject, c.msgID, want)
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the only line: %v, want EOF", err)
			}
		})
	}
}

func TestReaderGoesOnAfterABadLine(t *testing.T) {
	r := NewReader(strings.NewReader("bad\n{\"fund\": \"f\", \"event\": {\"type\": \"t\"}}"), "")
	if _, err := r.Next(); err == nil {
		t.Fatal("bad line accepted")
	}
	m, err := r.Next()
	if err != nil || m.Line != 2 || m.Subject != "fund.f.t" || m.MsgID != "" {
		t.Fatalf("second line (no newline at the end): %+v %v", m, err)
	}
}
