package ledger

import (
	"errors"
	"fmt"
)

// ErrKind says what an error means to the edges that act on it: the intake
// (stop, retry, or split a batch and refuse the message at fault), the read
// API (HTTP status) and the commands (exit status). Each edge maps kinds
// once; everything in between only wraps. The list is append-only.
type ErrKind uint8

// Kinds of error.
const (
	// KindOther is a failure nobody can act on but by reporting it.
	KindOther ErrKind = iota
	// KindNotFound: the fund, grant or snapshot asked for does not exist
	// (HTTP 404).
	KindNotFound
	// KindInvalid: the request itself is wrong, such as a journal sequence
	// past the fund's head (HTTP 400).
	KindInvalid
	// KindFenced: another instance took over the consumer; this one must
	// stop writing.
	KindFenced
	// KindTransient: the database or the network failed; the same work may
	// succeed when tried again.
	KindTransient
	// KindRefused: the database refused the data itself; trying again
	// cannot help, so the message at fault is refused.
	KindRefused
)

var kindNames = [...]string{"other", "not found", "invalid", "fenced", "transient", "refused"}

func (k ErrKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", k)
}

// Error is fundledger's error: what was being done (Op), its Kind, a
// message for people, and the error underneath.
type Error struct {
	Op   string
	Kind ErrKind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Err == nil:
		return e.Kind.String()
	case e.Op != "":
		return e.Op + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

// Unwrap is the error underneath.
func (e *Error) Unwrap() error { return e.Err }

// Is makes a bare kind (ErrNotFound, ErrInvalid, ErrFenced) match every
// error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Msg == "" && t.Err == nil && t.Kind == e.Kind
}

// Bare kinds, for errors.Is.
var (
	ErrNotFound = &Error{Kind: KindNotFound}
	ErrInvalid  = &Error{Kind: KindInvalid}
	ErrFenced   = &Error{Kind: KindFenced}
)

// E wraps err with what was being done and its kind.
func E(op string, kind ErrKind, err error) error {
	return &Error{Op: op, Kind: kind, Err: err}
}

// Errorf is an error of a kind with a message for people.
func Errorf(kind ErrKind, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf is the kind of the outermost Error in err's chain that has one,
// KindOther when none does.
func KindOf(err error) ErrKind {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return KindOther
		}
		if e.Kind != KindOther {
			return e.Kind
		}
		err = e.Err
	}
	return KindOther
}
