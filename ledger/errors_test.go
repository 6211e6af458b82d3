package ledger

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	base := errors.New("connection reset")
	cases := []struct {
		name string
		err  error
		kind ErrKind
		is   error // a bare kind errors.Is must match, or nil
	}{
		{"plain error", base, KindOther, nil},
		{"nil", nil, KindOther, nil},
		{"wrapped kind", fmt.Errorf("read: %w", Errorf(KindNotFound, "fund %q not found", "x")), KindNotFound, ErrNotFound},
		{"kind under op", E("apply", KindTransient, base), KindTransient, nil},
		{"outer kind wins", E("apply", KindRefused, E("write", KindTransient, base)), KindRefused, nil},
		{"op without kind looks inside", E("apply", KindOther, Errorf(KindInvalid, "bad")), KindInvalid, ErrInvalid},
		{"fenced", fmt.Errorf("batch: %w", &Error{Kind: KindFenced, Msg: "taken over"}), KindFenced, ErrFenced},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KindOf(c.err); got != c.kind {
				t.Errorf("KindOf = %v, want %v", got, c.kind)
			}
			for _, bare := range []error{ErrNotFound, ErrInvalid, ErrFenced} {
				if want := bare == c.is; errors.Is(c.err, bare) != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", bare, !want, want)
				}
			}
		})
	}
	if !errors.Is(E("apply", KindTransient, base), base) {
		t.Error("the error underneath is lost")
	}
	if got := Errorf(KindNotFound, "grant %q not found", "g-1").Error(); got != `grant "g-1" not found` {
		t.Errorf("message = %q", got)
	}
}
