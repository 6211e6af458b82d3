package decodev1

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Length limits of CONTRACT.md section 2 and of the free-text fields.
const (
	// MaxIDRunes is the longest id (envelope id, grant_id, beneficiary_ref,
	// program code, people such as approved_by), counted in characters.
	MaxIDRunes = 128
	// MaxTextRunes is the longest free-text field (fund name, payer,
	// bank_ref, category, reason) and the longest envelope source.
	MaxTextRunes = 1024
	// MaxLabelRunes is the longest snapshot label.
	MaxLabelRunes = 128
)

// ValidFundID reports whether s is a fund id: `^[a-z0-9][a-z0-9_-]{0,62}$`.
// A fund id is a NATS subject token, so nothing else can be allowed.
func ValidFundID(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidID reports whether s is an id of CONTRACT.md section 2: valid UTF-8,
// 1 to 128 characters (runes, not bytes), each one printable in the sense of
// unicode.IsPrint: letters, marks, digits, punctuation, symbols and the
// ASCII space. Control characters, invisible format characters (zero-width
// spaces, bidi overrides) and non-ASCII spaces are refused, because two ids
// that look the same to an officer must be the same id.
func ValidID(s string) bool {
	return idProblem(s, MaxIDRunes) == ""
}

// idProblem says what is wrong with s as an id of at most max runes, in
// words that follow the quoted value, or "" when nothing is.
func idProblem(s string, max int) string {
	return runesProblem(s, max, unicode.IsPrint)
}

// textProblem is idProblem for free text (names, reasons, bank references):
// it also allows Unicode spaces such as the ideographic space U+3000 and the
// no-break space, which Chinese names and addresses contain.
func textProblem(s string, max int) string {
	return runesProblem(s, max, unicode.IsGraphic)
}

func runesProblem(s string, max int, ok func(rune) bool) string {
	if s == "" {
		return "is empty"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	n := 0
	for _, r := range s {
		if !ok(r) {
			return "contains the character " + strconv.QuoteRuneToASCII(r) + ", which is not printable"
		}
		n++
	}
	if n > max {
		return "is " + strconv.Itoa(n) + " characters long; at most " + strconv.Itoa(max) + " are allowed"
	}
	return ""
}

// quote renders a value for a message: quoted, escaped, and cut short so an
// 8 MiB field cannot flood the rejection log.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) > max {
		n := 0
		for i := range s {
			if n == max {
				return strconv.Quote(s[:i]) + "..."
			}
			n++
		}
	}
	return strconv.Quote(s)
}

// snippet renders a raw JSON value for a message, cut short.
func snippet(raw []byte) string {
	const max = 64
	if len(raw) > max {
		// Cut on a rune boundary; raw is valid UTF-8 by now.
		i := max
		for i > 0 && !utf8.RuneStart(raw[i]) {
			i--
		}
		return string(raw[:i]) + "..."
	}
	return string(raw)
}
