package decodev1

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ParseMoney parses an amount as it travels on the wire (CONTRACT.md section
// 2): a plain decimal `^[0-9]+(\.[0-9]+)?$` with at most two fraction
// digits, more than zero and at most 999999999999.99. Leading zeros are allowed
// ("007.50"); a sign, an exponent, ".5", "5.", "1.000", whitespace or
// thousands separators are not.
//
// The error, when not nil, is a *Rejection with Code InvalidAmount whose
// message starts with the quoted value, so a caller can prefix the field:
// `"1.000" has more than 2 decimal places`.
func ParseMoney(s string) (decimal.Decimal, error) {
	if r := moneyProblem(s); r != "" {
		return decimal.Decimal{}, &Rejection{Code: InvalidAmount, Message: quote(s) + " " + r}
	}
	// Cannot fail: the shape was checked above.
	return decimal.RequireFromString(s), nil
}

// moneyProblem says what is wrong with s as an amount, in words that follow
// the quoted value, or "" when nothing is.
func moneyProblem(s string) string {
	if s == "" {
		return "is empty; an amount such as \"1250.00\" is needed"
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if allDigits(intPart) && (!hasDot || allDigits(frac)) {
		if len(frac) > 2 {
			return "has more than 2 decimal places"
		}
		if len(strings.TrimLeft(intPart, "0")) > 12 {
			// 12 integer digits and at most 2 fraction digits is exactly
			// "at most 999999999999.99".
			return "is more than the largest amount allowed, 999999999999.99"
		}
		if strings.Trim(intPart+frac, "0") == "" {
			return "is zero; an amount must be more than 0"
		}
		return ""
	}
	switch {
	case s[0] == '-' || s[0] == '+':
		return "has a sign; amounts are written without one, such as \"1250.00\""
	case strings.ContainsAny(s, "eE") && strings.Trim(s, "0123456789.eE+-") == "":
		return "uses an exponent; write the amount out in full, such as \"1000.00\""
	case hasDot && intPart == "" && allDigits(frac):
		return "needs a digit before the decimal point, such as \"0.5\""
	case hasDot && frac == "" && allDigits(intPart):
		return "needs digits after the decimal point, or no decimal point"
	}
	return "is not a plain decimal amount such as \"1250.00\""
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseDate parses a date of the contract, exactly YYYY-MM-DD and a real
// calendar date, to UTC midnight of that day. The error, when not nil, is a
// *Rejection with Code InvalidField whose message starts with the quoted
// value.
func ParseDate(s string) (time.Time, error) {
	if r := dateShapeProblem(s); r != "" {
		return time.Time{}, &Rejection{Code: InvalidField, Message: quote(s) + " " + r}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &Rejection{Code: InvalidField, Message: quote(s) + " is not a real calendar date"}
	}
	return t, nil
}

func dateShapeProblem(s string) string {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' ||
		!allDigits(s[0:4]) || !allDigits(s[5:7]) || !allDigits(s[8:10]) {
		return "is not a date in the form YYYY-MM-DD"
	}
	return ""
}
