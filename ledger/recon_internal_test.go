package ledger

import (
	"testing"

	"github.com/shopspring/decimal"
)

// centsText and cents print and read amounts as Money does, whatever the
// decimal's exponent.
func TestCentsText(t *testing.T) {
	for _, s := range []string{"0", "0.05", "0.5", "1", "12.30", "999999999999.99", "1250.00"} {
		d := decimal.RequireFromString(s)
		if got, want := centsText(cents(d)), Money(d); got != want {
			t.Errorf("%s: %s, want %s", s, got, want)
		}
		if got, want := centsText(-cents(d)), Money(d.Neg()); d.IsPositive() && got != want {
			t.Errorf("-%s: %s, want %s", s, got, want)
		}
	}
	if c := cents(decimal.RequireFromString("1.5").Add(decimal.RequireFromString("0.25"))); c != 175 {
		t.Errorf("cents of a sum: %d", c)
	}
	if c := cents(decimal.New(3, 1)); c != 3000 { // exponent 1
		t.Errorf("cents of 30: %d", c)
	}
}
