package workload

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
)

// JSONLines writes messages one per line as `{"subject": "...", "event":
// {...}}`, the format `fundledger publish FILE` reads (the publisher takes
// Nats-Msg-Id from the envelope's id). A message that is not JSON at all
// (a malformed one) is written as `{"subject": "...", "raw": "<text>",
// "msg_id": "..."}`, which the same reader publishes byte for byte.
type JSONLines struct {
	w   *bufio.Writer
	buf []byte
}

// NewJSONLines writes to w; call Flush at the end.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: bufio.NewWriterSize(w, 1<<20)} }

// Write writes one message; it has the shape of Generate's emit.
func (j *JSONLines) Write(m Msg) error {
	b := j.buf[:0]
	b = append(b, `{"subject":`...)
	b = strconv.AppendQuote(b, m.Subject)
	if json.Valid(m.Data) {
		b = append(b, `,"event":`...)
		b = append(b, m.Data...)
	} else {
		raw, err := json.Marshal(string(m.Data))
		if err != nil {
			return err
		}
		b = append(b, `,"raw":`...)
		b = append(b, raw...)
		if m.ID != "" {
			b = append(b, `,"msg_id":`...)
			b = strconv.AppendQuote(b, m.ID)
		}
	}
	b = append(b, "}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

// Flush writes what is buffered.
func (j *JSONLines) Flush() error { return j.w.Flush() }
