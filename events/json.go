package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The decoder reads a message in one strict pass (parser.value) that
// checks everything the contract's "JSON" step asks and records where each
// value is: a flat list of nodes in document order. The field checks then
// look members up in that list, and the content hash walks it, so no byte of
// the message is parsed twice and nothing is decoded into maps.
//
// It is stricter than encoding/json in the ways that matter for money:
// invalid UTF-8 is refused rather than replaced with U+FFFD; a key that
// appears twice in one object is refused (also when spelled with escapes),
// rather than taking the last value, since a publisher and the ledger could
// otherwise read different amounts from the same bytes; and a \u escape
// that is half a surrogate pair is refused rather than replaced, since two
// different ids would otherwise become the same id. Everything encoding/json
// refuses is refused too, with its nesting limit.

// maxDepth is encoding/json's nesting limit, kept so that the set of
// messages refused as malformed did not change with the rewrite.
const maxDepth = 10000

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota + 1
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// String names the kind in rejection messages ("not the JSON array [...]").
func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "nothing"
}

// node is one JSON value of a parsed document. The children of an array or
// object follow it directly; after is the index of the first node past its
// whole subtree, so siblings are found by hopping from one after to the
// next. Offsets are int32: documents are at most MaxCarriedBytes.
type node struct {
	start, end   int32 // the value's bytes; a string's include its quotes
	keyLo, keyHi int32 // object members: the key's bytes, without quotes (in arena when keyEsc)
	after        int32
	kind         kind
	esc          bool // a string value that has escapes
	keyEsc       bool // the key had escapes; keyLo:keyHi then index the decoded key in arena
}

// doc is a parsed document and the scratch space of one decode. Docs are
// pooled; nothing a decode returns may point into one (strings are cut from
// str, raw values from a copy of their own).
type doc struct {
	b     []byte
	nodes []node
	arena []byte // decoded keys that had escapes
	depth int
	err   string // why parsing failed
	ambig bool   // err is a duplicate key or a lone surrogate, not a syntax error

	str string // one copy of b that unescaped strings are cut from, made on first use

	// content hashing
	out      []byte  // canonical form
	stack    []int32 // members being sorted
	tmp      []byte  // an unescaped string
	linesArr int32   // record the canonical span of each element of this array (-1: none)
	spans    [][2]int32

	// Envelope.Data's copy of the data value, and where it starts in b
	dataBuf []byte
	dataOff int32

	data fields // the data object's fields, while an event type's decoder reads them
}

var docPool = sync.Pool{New: func() any { return new(doc) }}

func getDoc() *doc {
	d := docPool.Get().(*doc)
	d.linesArr = -1
	return d
}

// putDoc returns d to the pool unless it grew huge for one pathological
// message, which would otherwise be kept alive for ever.
func putDoc(d *doc) {
	if cap(d.nodes) > 1<<18 || cap(d.out) > 8<<20 || cap(d.arena) > 1<<20 || cap(d.spans) > 1<<16 {
		return
	}
	*d = doc{nodes: d.nodes[:0], arena: d.arena[:0], out: d.out[:0], stack: d.stack[:0], tmp: d.tmp[:0], spans: d.spans[:0]}
	docPool.Put(d)
}

// parse reads b as exactly one JSON value with nothing after it but
// whitespace. On success the root is node 0; on failure d.err says why.
func (d *doc) parse(b []byte) bool {
	d.b = b
	d.nodes = d.nodes[:0]
	d.arena = d.arena[:0]
	d.str = ""
	d.depth, d.err, d.ambig = 0, "", false
	if len(b) > math.MaxInt32 {
		d.err = "it is too long to read"
		return false
	}
	i, ok := d.value(skipWS(b, 0))
	if !ok {
		return false
	}
	if i = skipWS(b, i); i < len(b) {
		return d.syntax(i, "after the JSON value")
	}
	return true
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// syntax records a syntax error at byte i; context says what was expected.
func (d *doc) syntax(i int, context string) bool {
	switch {
	case i >= len(d.b):
		d.err = "unexpected end of input"
	case d.b[i] >= utf8.RuneSelf:
		if r, _ := utf8.DecodeRune(d.b[i:]); r == utf8.RuneError {
			d.err = fmt.Sprintf("invalid UTF-8 at byte %d", i)
			return false
		}
		r, _ := utf8.DecodeRune(d.b[i:])
		d.err = fmt.Sprintf("unexpected character %s %s (at byte %d)", strconv.QuoteRuneToASCII(r), context, i)
	default:
		d.err = fmt.Sprintf("unexpected character %s %s (at byte %d)", strconv.QuoteRuneToASCII(rune(d.b[i])), context, i)
	}
	return false
}

// value parses the value starting at b[i] (whitespace already skipped) and
// returns the index just past it.
func (d *doc) value(i int) (int, bool) {
	b := d.b
	if i >= len(b) {
		return i, d.syntax(i, "")
	}
	idx := int32(len(d.nodes))
	d.nodes = append(d.nodes, node{start: int32(i), keyLo: -1, keyHi: -1})
	var k kind
	ok := true
	switch c := b[i]; {
	case c == '{':
		k = kindObject
		if !d.enter(i) {
			return i, false
		}
		i, ok = d.object(idx, i)
		d.depth--
	case c == '[':
		k = kindArray
		if !d.enter(i) {
			return i, false
		}
		i, ok = d.array(i)
		d.depth--
	case c == '"':
		k = kindString
		var esc bool
		i, esc, ok = d.scanString(i)
		d.nodes[idx].esc = esc
	case c == 't':
		k = kindBool
		i, ok = d.literal(i, "true")
	case c == 'f':
		k = kindBool
		i, ok = d.literal(i, "false")
	case c == 'n':
		k = kindNull
		i, ok = d.literal(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		k = kindNumber
		i, ok = d.number(i)
	default:
		return i, d.syntax(i, "looking for the beginning of a value")
	}
	if !ok {
		return i, false
	}
	n := &d.nodes[idx]
	n.kind, n.end, n.after = k, int32(i), int32(len(d.nodes))
	return i, true
}

func (d *doc) literal(i int, lit string) (int, bool) {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(d.b) || d.b[i+j] != lit[j] {
			return i + j, d.syntax(i+j, "in the literal "+lit)
		}
	}
	return i + len(lit), true
}

// number checks the JSON number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *doc) number(i int) (int, bool) {
	b := d.b
	digits := func(i int) (int, bool) {
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, d.syntax(i, "in a number, looking for a digit")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i, true
	}
	if b[i] == '-' {
		i++
	}
	var ok bool
	if i < len(b) && b[i] == '0' {
		i++
	} else if i, ok = digits(i); !ok {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}

// plain marks the bytes a string can hold as they are: not a quote, a
// backslash, a control character or the start of a multi-byte character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string starting at the quote b[i] and returns the
// index past its closing quote and whether it has escapes.
func (d *doc) scanString(i int) (int, bool, bool) {
	b := d.b
	esc := false
	i++
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, esc, d.syntax(i, "")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return i + 1, esc, d.syntax(i+1, "")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
			default:
				return i + 1, esc, d.syntax(i+1, "in a string escape")
			}
			r, ok := d.hex4(i + 2)
			if !ok {
				return i, esc, false
			}
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo, ok := d.hex4(i + 8); !ok {
						return i, esc, false
					} else if lo >= 0xDC00 && lo <= 0xDFFF {
						i += 12
						continue
					}
				}
				return i, esc, d.surrogate(i)
			case r >= 0xDC00 && r <= 0xDFFF:
				return i, esc, d.surrogate(i)
			}
			i += 6
		case c < 0x20:
			return i, esc, d.syntax(i, "in a string (control characters must be escaped)")
		default: // the start of a multi-byte character
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				d.err = fmt.Sprintf("invalid UTF-8 at byte %d", i)
				return i, esc, false
			}
			i += size
		}
	}
}

func (d *doc) surrogate(i int) bool {
	d.err = fmt.Sprintf("the escape %s at byte %d is half of a surrogate pair, not a character", d.b[i:i+6], i)
	d.ambig = true
	return false
}

// hex4 reads the four hex digits of a \u escape at b[i:i+4].
func (d *doc) hex4(i int) (rune, bool) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(d.b) {
			return 0, d.syntax(j, "")
		}
		c := d.b[j]
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, d.syntax(j, "in a \\u escape")
		}
	}
	return r, true
}

func (d *doc) enter(i int) bool {
	d.depth++
	if d.depth > maxDepth {
		d.err = fmt.Sprintf("it nests more than %d arrays and objects (at byte %d)", maxDepth, i)
		return false
	}
	return true
}

func (d *doc) array(i int) (int, bool) {
	b := d.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = d.value(i); !ok {
			return i, false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, d.syntax(i, "")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, true
		default:
			return i, d.syntax(i, "after an array element")
		}
	}
}

// object parses the object whose node is obj and refuses a key that
// appears twice in it. Most objects here have a handful of keys, compared
// one with another; a wide one gets a set.
func (d *doc) object(obj int32, i int) (int, bool) {
	b := d.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	members := 0
	var set map[string]struct{}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, d.syntax(i, "looking for the beginning of an object key")
		}
		keyStart := i
		end, esc, ok := d.scanString(i)
		if !ok {
			return end, false
		}
		lo, hi := int32(keyStart+1), int32(end-1)
		if esc {
			n := len(d.arena)
			d.arena = unescape(d.arena, b[keyStart+1:end-1])
			lo, hi = int32(n), int32(len(d.arena))
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, d.syntax(i, "after an object key")
		}
		i = skipWS(b, i+1)
		idx := int32(len(d.nodes))
		if i, ok = d.value(i); !ok {
			return i, false
		}
		m := &d.nodes[idx]
		m.keyLo, m.keyHi, m.keyEsc = lo, hi, esc
		key := d.keyBytes(idx)
		dup := false
		members++
		switch {
		case set != nil:
			_, dup = set[string(key)]
			set[string(key)] = struct{}{}
		case members > 16:
			set = make(map[string]struct{}, 2*members)
			for c := obj + 1; c < int32(len(d.nodes)); c = d.nodes[c].after {
				set[string(d.keyBytes(c))] = struct{}{}
			}
			dup = len(set) < members
		default:
			for c := obj + 1; c < idx; c = d.nodes[c].after {
				if bytes.Equal(d.keyBytes(c), key) {
					dup = true
					break
				}
			}
		}
		if dup {
			d.err = fmt.Sprintf("the key %s appears twice in one object", quote(string(key)))
			d.ambig = true
			return i, false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, d.syntax(i, "")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, d.syntax(i, "after an object member")
		}
	}
}

// keyBytes is the decoded key of the object member n.
func (d *doc) keyBytes(n int32) []byte {
	m := &d.nodes[n]
	if m.keyEsc {
		return d.arena[m.keyLo:m.keyHi]
	}
	return d.b[m.keyLo:m.keyHi]
}

// member returns the node of the member name of object obj, or -1.
func (d *doc) member(obj int32, name string) int32 {
	for c := obj + 1; c < d.nodes[obj].after; c = d.nodes[c].after {
		if string(d.keyBytes(c)) == name {
			return c
		}
	}
	return -1
}

// raw is the value's bytes as received.
func (d *doc) raw(n int32) []byte { return d.b[d.nodes[n].start:d.nodes[n].end] }

// stringOf decodes the string value n. A string without escapes is cut
// from one shared copy of the message, so reading many fields costs one
// allocation.
func (d *doc) stringOf(n int32) string {
	m := &d.nodes[n]
	if !m.esc {
		if d.str == "" {
			d.str = string(d.b)
		}
		return d.str[m.start+1 : m.end-1]
	}
	d.tmp = unescape(d.tmp[:0], d.b[m.start+1:m.end-1])
	return string(d.tmp)
}

// unescape appends the decoded content of a JSON string (without quotes)
// that scanString accepted: every escape is valid and surrogates come in
// pairs.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, hex4(s[i+8:i+12]))
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // " \ /
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
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

// messageProblem parses raw as an inbound message, one JSON object, and
// says why it is malformed, or "" when it is not.
func (d *doc) messageProblem(raw []byte) string {
	if skipWS(raw, 0) == len(raw) {
		return "the message is empty"
	}
	if !d.parse(raw) {
		if d.ambig {
			return "the message is ambiguous JSON: " + d.err
		}
		return "the message is not valid JSON: " + d.err
	}
	switch k := d.nodes[0].kind; k {
	case kindObject:
		return ""
	case kindNull:
		return "the message is JSON null, not a JSON object"
	case kindBool:
		return "the message is a JSON bool, not a JSON object"
	default:
		return "the message is a JSON " + k.String() + ", not a JSON object"
	}
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
// still deterministic; Decode never does that. Decode computes the same
// hash of a message's data (Decoded.DataHash) and of each batch line
// (BatchLine.DataHash) while it reads them.
func ContentHash(data json.RawMessage) [32]byte {
	d := getDoc()
	defer putDoc(d)
	if d.parse(data) {
		return d.hash(0)
	}
	// Not strict JSON (a key twice, a lone surrogate, invalid UTF-8, or
	// not JSON at all): keep what this function always returned for it.
	return contentHashLoose(data)
}

// hash is the content hash of the value n. When d.linesArr is set, the
// canonical span of each of that array's elements is kept in d.spans.
func (d *doc) hash(n int32) [32]byte {
	d.spans = d.spans[:0]
	d.out = d.canonical(d.out[:0], n)
	return sha256.Sum256(d.out)
}

// canonical appends the canonical form of value n (see ContentHash).
func (d *doc) canonical(out []byte, n int32) []byte {
	m := d.nodes[n]
	switch m.kind {
	case kindObject:
		base := len(d.stack)
		for c := n + 1; c < m.after; c = d.nodes[c].after {
			d.stack = append(d.stack, c)
		}
		d.sortMembers(d.stack[base:])
		out = append(out, '{')
		for j := base; j < len(d.stack); j++ {
			if j > base {
				out = append(out, ',')
			}
			c := d.stack[j]
			out = appendCanonicalString(out, d.keyBytes(c))
			out = append(out, ':')
			out = d.canonical(out, c)
		}
		d.stack = d.stack[:base]
		return append(out, '}')
	case kindArray:
		out = append(out, '[')
		for c := n + 1; c < m.after; c = d.nodes[c].after {
			if c > n+1 {
				out = append(out, ',')
			}
			start := len(out)
			out = d.canonical(out, c)
			if n == d.linesArr {
				d.spans = append(d.spans, [2]int32{int32(start), int32(len(out))})
			}
		}
		return append(out, ']')
	case kindString:
		if !m.esc {
			// Nothing in it needs escaping: no quote, backslash or control
			// character can stand unescaped in a JSON string.
			return append(out, d.b[m.start:m.end]...)
		}
		d.tmp = unescape(d.tmp[:0], d.b[m.start+1:m.end-1])
		return appendCanonicalString(out, d.tmp)
	default: // number, true, false, null: their literal text
		return append(out, d.b[m.start:m.end]...)
	}
}

// sortMembers orders members by key bytes; objects are small, so an
// insertion sort does for most.
func (d *doc) sortMembers(ms []int32) {
	if len(ms) > 16 {
		slices.SortFunc(ms, func(a, b int32) int { return bytes.Compare(d.keyBytes(a), d.keyBytes(b)) })
		return
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && bytes.Compare(d.keyBytes(ms[j-1]), d.keyBytes(ms[j])) > 0; j-- {
			ms[j-1], ms[j] = ms[j], ms[j-1]
		}
	}
}

func appendCanonicalString(out, s []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\f':
			out = append(out, '\\', 'f')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				out = append(out, c)
			}
		}
	}
	return append(out, '"')
}

// contentHashLoose is ContentHash for a value that is not strict JSON: it
// reads it as encoding/json does (the last of two equal keys wins, a lone
// surrogate or invalid UTF-8 becomes U+FFFD) and hashes the bytes as given
// when even that fails. No decoded message reaches it.
func contentHashLoose(data []byte) [32]byte {
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
	var buf []byte
	buf = appendLoose(buf, v)
	return sha256.Sum256(buf)
}

func appendLoose(out []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out = append(out, '{')
		for i, k := range keys {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendCanonicalString(out, []byte(k))
			out = append(out, ':')
			out = appendLoose(out, v[k])
		}
		return append(out, '}')
	case []any:
		out = append(out, '[')
		for i, e := range v {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendLoose(out, e)
		}
		return append(out, ']')
	case string:
		return appendCanonicalString(out, []byte(v))
	case json.Number:
		return append(out, v...)
	case bool:
		return strconv.AppendBool(out, v)
	default: // nil
		return append(out, "null"...)
	}
}
