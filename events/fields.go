package events

import (
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// fields reads the fields of one JSON object of a parsed message and
// records the first failed check. Once a check has failed every method
// returns a zero value and checks nothing, so callers can chain them and
// look at rej once.
type fields struct {
	d   *doc
	obj int32 // the object's node
	// path prefixes field names in messages ("data."); for an element of an
	// array (elem >= 0) it is the array's name ("data.lines"), and the
	// prefix "data.lines[3]." is only built when a message needs it.
	path string
	elem int
	rej  *Rejection
}

func (f *fields) fail(code Code, format string, args ...any) {
	if f.rej == nil {
		f.rej = Reject(code, format, args...)
	}
}

// prefix is what field names are prefixed with in messages.
func (f *fields) prefix() string {
	if f.elem < 0 {
		return f.path
	}
	return f.path + "[" + strconv.Itoa(f.elem) + "]."
}

// done returns e, or nil when a check failed.
func (f *fields) done(e Event) Event {
	if f.rej != nil {
		return nil
	}
	return e
}

// lookup returns the field's node; -1 when it is absent or null, which the
// contract treats alike.
func (f *fields) lookup(name string) int32 {
	n := f.d.member(f.obj, name)
	if n < 0 || f.d.nodes[n].kind == kindNull {
		return -1
	}
	return n
}

// notString records that the field name, node n, is not the string it must
// be.
func (f *fields) notString(code Code, name, example string, n int32) {
	f.fail(code, "%s%s must be a string%s, not the JSON %s %s", f.prefix(), name, example, f.d.nodes[n].kind, snippet(f.d.raw(n)))
}

// optional returns a string field, "" when it is absent, null or empty.
// Another JSON type is invalid_field.
func (f *fields) optional(name string) string {
	if f.rej != nil {
		return ""
	}
	n := f.lookup(name)
	if n < 0 {
		return ""
	}
	if f.d.nodes[n].kind != kindString {
		f.notString(InvalidField, name, "", n)
		return ""
	}
	return f.d.stringOf(n)
}

// required is optional for a field that must be there: absent, null and ""
// are missing_field.
func (f *fields) required(name string) string {
	if f.rej != nil {
		return ""
	}
	if f.lookup(name) < 0 {
		f.fail(MissingField, "%s%s is missing", f.prefix(), name)
		return ""
	}
	s := f.optional(name)
	if f.rej == nil && s == "" {
		f.fail(MissingField, "%s%s is empty", f.prefix(), name)
	}
	return s
}

// printable is a required string of 1 to max printable characters
// (unicode.IsPrint): ids, people.
func (f *fields) printable(name string, max int) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	if p := idProblem(s, max); p != "" {
		f.fail(InvalidField, "%s%s %s %s", f.prefix(), name, quote(s), p)
		return ""
	}
	return s
}

// id is a required id of CONTRACT.md section 2 (see ValidID).
func (f *fields) id(name string) string { return f.printable(name, MaxIDRunes) }

// text is required free text of at most max characters: printable, and
// Unicode spaces are allowed (see textProblem).
func (f *fields) text(name string, max int) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	return f.checkText(name, s, max)
}

// optText is text that may be absent, null or empty.
func (f *fields) optText(name string, max int) string {
	s := f.optional(name)
	if f.rej != nil || s == "" {
		return ""
	}
	return f.checkText(name, s, max)
}

func (f *fields) checkText(name, s string, max int) string {
	if p := textProblem(s, max); p != "" {
		f.fail(InvalidField, "%s%s %s %s", f.prefix(), name, quote(s), p)
		return ""
	}
	return s
}

func (f *fields) fundID(name string) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	if !ValidFundID(s) {
		f.fail(InvalidField, "%s%s %s %s", f.prefix(), name, quote(s), fundIDRule)
		return ""
	}
	return s
}

func (f *fields) oneOf(name string, allowed ...string) string {
	s := f.required(name)
	if f.rej != nil {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	f.fail(InvalidField, "%s%s %s is not one of %s", f.prefix(), name, quote(s), strings.Join(allowed, ", "))
	return ""
}

// currency is an optional ISO 4217-style code, "CNY" when absent.
func (f *fields) currency(name string) string {
	s := f.optional(name)
	if f.rej != nil {
		return ""
	}
	if s == "" {
		return "CNY"
	}
	if len(s) != 3 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		f.fail(InvalidField, "%s%s %s is not a currency code of 3 capital letters such as \"CNY\"", f.prefix(), name, quote(s))
		return ""
	}
	if places, odd := notTwoPlaces[s]; odd {
		f.fail(InvalidField, "%s%s %s has %s (ISO 4217); this ledger keeps books only in currencies of 2 decimal places, such as \"CNY\"",
			f.prefix(), name, quote(s), places)
		return ""
	}
	return s
}

// notTwoPlaces are the ISO 4217 codes whose minor unit is not 2 decimal
// places. The ledger writes and checks every amount with exactly two
// places (numeric(20,2) in the database, the hashed and signed bytes of
// docs/audit.md), so a fund in one of these would print "300.00" where
// the contract wants the currency's own places ("300" for JPY): such a
// fund is refused when it is opened instead.
var notTwoPlaces = map[string]string{
	"BIF": "0 decimal places", "CLP": "0 decimal places", "DJF": "0 decimal places", "GNF": "0 decimal places",
	"ISK": "0 decimal places", "JPY": "0 decimal places", "KMF": "0 decimal places", "KRW": "0 decimal places",
	"PYG": "0 decimal places", "RWF": "0 decimal places", "UGX": "0 decimal places", "UYI": "0 decimal places",
	"VND": "0 decimal places", "VUV": "0 decimal places", "XAF": "0 decimal places", "XOF": "0 decimal places",
	"XPF": "0 decimal places",
	"BHD": "3 decimal places", "IQD": "3 decimal places", "JOD": "3 decimal places", "KWD": "3 decimal places",
	"LYD": "3 decimal places", "OMR": "3 decimal places", "TND": "3 decimal places",
	"CLF": "4 decimal places", "UYW": "4 decimal places",
	"XAG": "no minor unit", "XAU": "no minor unit", "XBA": "no minor unit", "XBB": "no minor unit",
	"XBC": "no minor unit", "XBD": "no minor unit", "XDR": "no minor unit", "XPD": "no minor unit",
	"XPT": "no minor unit", "XSU": "no minor unit", "XTS": "no minor unit", "XUA": "no minor unit",
	"XXX": "no minor unit",
}

// money is a required amount (see ParseMoney). Any value that is not a
// string, a JSON number above all, is invalid_amount: the field is money,
// and the contract names numbers there as invalid_amount.
func (f *fields) money(name string) decimal.Decimal {
	if f.rej != nil {
		return decimal.Decimal{}
	}
	if f.lookup(name) < 0 {
		f.fail(MissingField, "%s%s is missing", f.prefix(), name)
		return decimal.Decimal{}
	}
	d, ok := f.amount(name)
	if f.rej != nil {
		return decimal.Decimal{}
	}
	if !ok {
		f.fail(MissingField, "%s%s is empty", f.prefix(), name)
		return decimal.Decimal{}
	}
	return d
}

// optMoney is an amount that may be absent, null or empty (nil).
func (f *fields) optMoney(name string) *decimal.Decimal {
	d, ok := f.amount(name)
	if !ok {
		return nil
	}
	return &d
}

// amount reads an amount that may be absent, null or empty (ok false).
func (f *fields) amount(name string) (d decimal.Decimal, ok bool) {
	if f.rej != nil {
		return d, false
	}
	n := f.lookup(name)
	if n < 0 {
		return d, false
	}
	if f.d.nodes[n].kind != kindString {
		f.notString(InvalidAmount, name, ` such as "1250.00"`, n)
		return d, false
	}
	s := f.d.stringOf(n)
	if s == "" {
		return d, false
	}
	d, err := ParseMoney(s)
	if err != nil {
		f.fail(InvalidAmount, "%s%s %s", f.prefix(), name, err.(*Rejection).Message)
		return d, false
	}
	return d, true
}

// date is a required date, YYYY-MM-DD, at UTC midnight.
func (f *fields) date(name string) time.Time {
	s := f.required(name)
	if f.rej != nil {
		return time.Time{}
	}
	t, err := ParseDate(s)
	if err != nil {
		f.fail(InvalidField, "%s%s %s", f.prefix(), name, err.(*Rejection).Message)
		return time.Time{}
	}
	return t
}

// optDate is a date that may be absent, null or empty (the zero time then).
func (f *fields) optDate(name string) time.Time {
	s := f.optional(name)
	if f.rej != nil || s == "" {
		return time.Time{}
	}
	t, err := ParseDate(s)
	if err != nil {
		f.fail(InvalidField, "%s%s %s", f.prefix(), name, err.(*Rejection).Message)
		return time.Time{}
	}
	return t
}

// element reads element i, node n, of the array whose path (without the
// index) is path as an object. A failure is recorded in the returned
// fields, not in f, so a batch can go on with its other lines.
func (f *fields) element(path string, i int, n int32) fields {
	sub := fields{d: f.d, obj: n, path: path, elem: i}
	if k := f.d.nodes[n].kind; k != kindObject {
		sub.fail(InvalidField, "%s[%d] must be a JSON object, not the JSON %s %s", path, i, k, snippet(f.d.raw(n)))
	}
	return sub
}

// programs reads fund.opened's list of programs; absent, null or [] is no
// program. A program code given twice is invalid_field.
func (f *fields) programs(name string) []Program {
	if f.rej != nil {
		return nil
	}
	arr := f.lookup(name)
	if arr < 0 {
		return nil
	}
	if k := f.d.nodes[arr].kind; k != kindArray {
		f.fail(InvalidField, "%s%s must be a JSON array of {code, annual_cap_per_beneficiary}, not the JSON %s %s", f.prefix(), name, k, snippet(f.d.raw(arr)))
		return nil
	}
	out := make([]Program, 0, f.d.count(arr))
	path := f.prefix() + name
	i := 0
	for c := arr + 1; c < f.d.nodes[arr].after; c = f.d.nodes[c].after {
		pf := f.element(path, i, c)
		p := Program{
			Code: pf.id("code"),
			Cap:  pf.optMoney("annual_cap_per_beneficiary"),
		}
		if pf.rej == nil {
			for j, q := range out {
				if q.Code == p.Code {
					pf.fail(InvalidField, "%s[%d].code %s is already used by %s[%d]", path, i, quote(p.Code), path, j)
					break
				}
			}
		}
		if pf.rej != nil {
			f.rej = pf.rej
			return nil
		}
		out = append(out, p)
		i++
	}
	return out
}

// count is the number of elements or members of the array or object n.
func (d *doc) count(n int32) int {
	k := 0
	for c := n + 1; c < d.nodes[n].after; c = d.nodes[c].after {
		k++
	}
	return k
}

// dataCopy copies the value n (-1: none, nil) out of the message, for
// Envelope.Data; the raw batch lines are cut from the same copy.
func (d *doc) dataCopy(n int32) []byte {
	if n < 0 {
		return nil
	}
	d.dataBuf = append([]byte(nil), d.raw(n)...)
	d.dataOff = d.nodes[n].start
	return d.dataBuf
}

// rawCopy is the value n, inside the value dataCopy copied, as its own
// slice of that copy (appending to it cannot write into its neighbours).
func (d *doc) rawCopy(n int32) []byte {
	lo, hi := d.nodes[n].start-d.dataOff, d.nodes[n].end-d.dataOff
	return d.dataBuf[lo:hi:hi]
}
