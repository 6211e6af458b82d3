package jetstream

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// ErrCannotFit means a message stays too large however it is reduced.
var ErrCannotFit = errors.New("the message cannot be reduced to fit")

// Fit reduces an outbound message to at most max bytes, for a message
// larger than NATS accepts. Only a rejection can grow that large: it
// carries the refused message as received (up to 8 MiB, longer once
// escaped as a JSON string) and a line per bad batch line. Fit keeps every
// other field, cuts "raw" to the longest prefix that fits and marks it
// with "raw_truncated": true and "raw_length" (the length of the full
// "raw"); if that is not enough it also keeps only the first "lines", with
// "lines_truncated": true and "lines_total". The stored rejection keeps
// everything and the read API serves it in full.
func Fit(payload []byte, max int) ([]byte, error) {
	if len(payload) <= max {
		return payload, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, ErrCannotFit
	}
	if _, ok := obj["unmatched_book"]; ok {
		return fitUnmatched(obj, max) // a reconciliation report (recon_fit.go)
	}
	var raw string
	if r, ok := obj["raw"]; !ok || json.Unmarshal(r, &raw) != nil {
		return nil, ErrCannotFit
	}
	obj["raw_truncated"] = json.RawMessage("true")
	obj["raw_length"], _ = json.Marshal(len(raw))
	obj["raw"] = json.RawMessage(`""`)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, ErrCannotFit
	}
	if len(b) > max {
		// Even without raw it is too large: keep fewer lines too.
		return fitLines(obj, max)
	}
	// The longest prefix of raw, cut between characters, whose escaped
	// form fits in what is left. escapedLen never underestimates, and the
	// result is measured again.
	room, n := max-len(b), 0
	for n < len(raw) {
		r, size := utf8.DecodeRuneInString(raw[n:])
		room -= escapedLen(r, size)
		if room < 0 {
			break
		}
		n += size
	}
	for {
		obj["raw"], _ = json.Marshal(raw[:n])
		if b, err = json.Marshal(obj); err == nil && len(b) <= max {
			return b, nil
		}
		if n == 0 {
			return nil, ErrCannotFit
		}
		n /= 2
		for n > 0 && !utf8.RuneStart(raw[n]) {
			n--
		}
	}
}

// fitLines keeps as many of a rejection's first lines as fit in max.
func fitLines(obj map[string]json.RawMessage, max int) ([]byte, error) {
	var lines []json.RawMessage
	if l, ok := obj["lines"]; !ok || json.Unmarshal(l, &lines) != nil || len(lines) == 0 {
		return nil, ErrCannotFit
	}
	obj["lines_truncated"] = json.RawMessage("true")
	obj["lines_total"], _ = json.Marshal(len(lines))
	obj["lines"] = json.RawMessage("[]")
	b, err := json.Marshal(obj)
	if err != nil || len(b) > max {
		return nil, ErrCannotFit
	}
	room, k := max-len(b), 0
	for k < len(lines) && room-len(lines[k])-1 >= 0 {
		room -= len(lines[k]) + 1
		k++
	}
	for ; k >= 0; k-- {
		obj["lines"], _ = json.Marshal(lines[:k])
		if b, err := json.Marshal(obj); err == nil && len(b) <= max {
			return b, nil
		}
	}
	return nil, ErrCannotFit
}

// escapedLen is at least the bytes encoding/json writes for the rune r of
// size bytes inside a string.
func escapedLen(r rune, size int) int {
	switch {
	case r == '\n', r == '\r', r == '\t':
		return 2
	case r == utf8.RuneError && size == 1, r < 0x20, r == '<', r == '>', r == '&', r == 0x2028, r == 0x2029:
		return 6 // \uXXXX
	case r == '"', r == '\\':
		return 2
	}
	return size
}
