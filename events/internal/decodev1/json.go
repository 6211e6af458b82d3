package decodev1

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// object is one decoded JSON object with exact (case-sensitive) keys.
// encoding/json matches struct fields case-insensitively, so `{"ID": ...}`
// would fill an Envelope's ID; decoding into a map keeps the contract's
// field names exact.
type object map[string]json.RawMessage

// parseMessage decodes the whole inbound message. It is stricter than
// encoding/json in three ways that matter for money: invalid UTF-8 is
// refused rather than replaced with U+FFFD, a key that appears twice in one
// object is refused rather than taking the last value (a publisher and the
// ledger could otherwise read different amounts from the same bytes), and a
// \u escape that is half a surrogate pair is refused rather than replaced
// (two different ids would otherwise become the same id).
func parseMessage(raw []byte) (object, *Rejection) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, Reject(Malformed, "the message is empty")
	}
	if !utf8.Valid(raw) {
		return nil, Reject(Malformed, "the message is not valid UTF-8")
	}
	var m object
	if err := json.Unmarshal(raw, &m); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, Reject(Malformed, "the message is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
		case errors.As(err, &typ):
			return nil, Reject(Malformed, "the message is a JSON %s, not a JSON object", typ.Value)
		default:
			return nil, Reject(Malformed, "the message is not valid JSON: %s", err.Error())
		}
	}
	if m == nil {
		return nil, Reject(Malformed, "the message is JSON null, not a JSON object")
	}
	if err := strictCheck(raw); err != nil {
		return nil, Reject(Malformed, "the message is ambiguous JSON: %s", err.Error())
	}
	return m, nil
}

// jsonKind names the JSON type of a raw value for messages and checks.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// strictCheck walks a JSON text that encoding/json already accepted and
// reports a duplicate key in one object or an unpaired surrogate escape.
// The recursion is bounded by encoding/json's own nesting limit (10000).
func strictCheck(b []byte) error {
	s := strictScanner{b: b}
	return s.value()
}

type strictScanner struct {
	b []byte
	i int
}

func (s *strictScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *strictScanner) value() error {
	s.ws()
	switch s.b[s.i] {
	case '{':
		s.i++
		s.ws()
		if s.b[s.i] == '}' {
			s.i++
			return nil
		}
		// Most objects here have a handful of keys: a slice beats a map.
		var keys []string
		var set map[string]struct{}
		for {
			s.ws()
			key, err := s.str(true)
			if err != nil {
				return err
			}
			dup := false
			if set != nil {
				_, dup = set[key]
				set[key] = struct{}{}
			} else {
				for _, k := range keys {
					if k == key {
						dup = true
						break
					}
				}
				keys = append(keys, key)
				if len(keys) > 16 {
					set = make(map[string]struct{}, 2*len(keys))
					for _, k := range keys {
						set[k] = struct{}{}
					}
				}
			}
			if dup {
				return fmt.Errorf("the key %s appears twice in one object", quote(key))
			}
			s.ws()
			s.i++ // ':'
			if err := s.value(); err != nil {
				return err
			}
			s.ws()
			c := s.b[s.i]
			s.i++ // ',' or '}'
			if c == '}' {
				return nil
			}
		}
	case '[':
		s.i++
		s.ws()
		if s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.value(); err != nil {
				return err
			}
			s.ws()
			c := s.b[s.i]
			s.i++ // ',' or ']'
			if c == ']' {
				return nil
			}
		}
	case '"':
		_, err := s.str(false)
		return err
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			s.i++
		}
		return nil
	}
}

// str scans the string starting at s.i and, when want is true, returns its
// decoded value.
func (s *strictScanner) str(want bool) (string, error) {
	start := s.i
	s.i++ // opening quote
	escaped := false
	for {
		switch s.b[s.i] {
		case '"':
			s.i++
			lit := s.b[start:s.i]
			if !want {
				return "", nil
			}
			if !escaped {
				return string(lit[1 : len(lit)-1]), nil
			}
			var v string
			if err := json.Unmarshal(lit, &v); err != nil {
				return "", err
			}
			return v, nil
		case '\\':
			escaped = true
			if s.b[s.i+1] != 'u' {
				s.i += 2
				continue
			}
			r := hex4(s.b[s.i+2 : s.i+6])
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				if s.i+12 <= len(s.b) && s.b[s.i+6] == '\\' && s.b[s.i+7] == 'u' {
					if lo := hex4(s.b[s.i+8 : s.i+12]); lo >= 0xDC00 && lo <= 0xDFFF {
						s.i += 12
						continue
					}
				}
				return "", fmt.Errorf("the escape %s at byte %d is half of a surrogate pair, not a character", s.b[s.i:s.i+6], s.i)
			case r >= 0xDC00 && r <= 0xDFFF:
				return "", fmt.Errorf("the escape %s at byte %d is half of a surrogate pair, not a character", s.b[s.i:s.i+6], s.i)
			}
			s.i += 6
		default:
			s.i++
		}
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// ContentHash is the SHA-256 of the canonical form of a JSON value. It is
// what "the same content" of CONTRACT.md section 3 means: two data objects
// with the same fields and the same JSON values hash equal whatever their
// key order, whitespace or string escapes.
//
// The canonical form, precisely enough to re-implement it elsewhere:
//   - no whitespace between tokens;
//   - object members sorted by key, comparing the keys' UTF-8 bytes;
//   - numbers exactly as their literal text in the input (so 1, 1.0 and 1e0
//     differ: the contract carries money as strings, never as numbers);
//   - true, false, null as themselves;
//   - strings in double quotes, with `"` and `\` escaped by a backslash,
//     U+0008, U+0009, U+000A, U+000C, U+000D as \b \t \n \f \r, every other
//     character below U+0020 as \u00xx with lowercase hex, and every other
//     character as its UTF-8 bytes.
//
// If data is not valid JSON the hash is of the bytes as given, so it is
// still deterministic; Decode never does that.
func ContentHash(data json.RawMessage) [32]byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return sha256.Sum256(data)
	}
	if _, err := dec.Token(); err != io.EOF {
		// Something after the value: not one JSON value.
		return sha256.Sum256(data)
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	writeCanonical(&buf, v)
	return sha256.Sum256(buf.Bytes())
}

func writeCanonical(buf *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonicalString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, v[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, e)
		}
		buf.WriteByte(']')
	case string:
		writeCanonicalString(buf, v)
	case json.Number:
		buf.WriteString(string(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case nil:
		buf.WriteString("null")
	}
}

func writeCanonicalString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case '\b':
			buf.WriteString(`\b`)
		case '\t':
			buf.WriteString(`\t`)
		case '\n':
			buf.WriteString(`\n`)
		case '\f':
			buf.WriteString(`\f`)
		case '\r':
			buf.WriteString(`\r`)
		default:
			if c < 0x20 {
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xF])
			} else {
				buf.WriteByte(c)
			}
		}
	}
	buf.WriteByte('"')
}
