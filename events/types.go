// Package events holds the wire contract of fundledger: subjects, the
// CloudEvents envelope, the data of each event type, decoding with the
// contract's validation order, and the rejection codes. It imports nothing
// that touches the network or the database.
package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Code is a rejection code of CONTRACT.md section 4. The list is fixed and
// append-only: consumers of ledger.<fund>.rejected switch on these strings.
type Code string

// The rejection codes, exactly as they travel on the wire.
const (
	Malformed              Code = "malformed"
	UnsupportedType        Code = "unsupported_type"
	MissingField           Code = "missing_field"
	InvalidField           Code = "invalid_field"
	InvalidAmount          Code = "invalid_amount"
	UnknownFund            Code = "unknown_fund"
	FundExists             Code = "fund_exists"
	UnknownProgram         Code = "unknown_program"
	InsufficientFunds      Code = "insufficient_funds"
	SameMakerChecker       Code = "same_maker_checker"
	BeneficiaryCapExceeded Code = "beneficiary_cap_exceeded"
	DuplicateID            Code = "duplicate_id"
	UnknownGrant           Code = "unknown_grant"
	ExceedsOutstanding     Code = "exceeds_outstanding"
	GrantClosed            Code = "grant_closed"
	UnknownPayment         Code = "unknown_payment"
	TooLarge               Code = "too_large"
)

// LineError names one refused line of a grant.batch.approved; Index is the
// 0-based position in data.lines.
type LineError struct {
	Index   int    `json:"index"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Rejection is the one error type for a refused event. Code is what the
// operator filters on; Message says in plain words why, with the figures.
type Rejection struct {
	Code    Code
	Message string
	Lines   []LineError
}

func (r *Rejection) Error() string { return string(r.Code) + ": " + r.Message }

// Reject builds a Rejection with a formatted message.
func Reject(code Code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Event types of CONTRACT.md section 3, as they appear in the envelope's
// type and as the last tokens of the inbound subject.
const (
	TypeFundOpened           = "fund.opened"
	TypeProgramSet           = "fund.program.set"
	TypeContributionReceived = "contribution.received"
	TypeAllocationApproved   = "allocation.approved"
	TypeGrantApproved        = "grant.approved"
	TypeGrantBatchApproved   = "grant.batch.approved"
	TypeGrantDisbursed       = "grant.disbursed"
	TypePaymentReturned      = "payment.returned"
	TypeGrantCancelled       = "grant.cancelled"
	TypeGrantRecovered       = "grant.recovered"
	TypeSnapshotRequested    = "snapshot.requested"
)

// Subjects and streams of CONTRACT.md section 1.
const (
	InboundStream    = "FUND_EVENTS"
	InboundSubjects  = "fund.>"
	OutboundStream   = "LEDGER_OUT"
	OutboundSubjects = "ledger.>"
	// UnknownFundID is the fund token used when a subject's fund token is not
	// a valid fund id.
	UnknownFundID = "_unknown"
	// MaxMessageBytes is the largest inbound message accepted (8 MiB).
	MaxMessageBytes = 8 << 20
	// MaxCarriedBytes is the largest inbound message the carriers the
	// ledger sets up pass on (FUND_EVENTS's max_msg_size, the embedded
	// server's max_payload): a message over MaxMessageBytes has to reach
	// the ledger to be refused as too_large, rather than fail at publish.
	MaxCarriedBytes = 2 * MaxMessageBytes
	// MaxBatchLines is the largest grant.batch.approved accepted.
	MaxBatchLines = 10000
)

// InboundSubject is the subject an approval system publishes an event on.
func InboundSubject(fundID, eventType string) string { return "fund." + fundID + "." + eventType }

// PostedSubject carries one message per journal transaction posted.
func PostedSubject(fundID string) string { return "ledger." + fundID + ".posted" }

// RejectedSubject carries one message per refused event.
func RejectedSubject(fundID string) string { return "ledger." + fundID + ".rejected" }

// SnapshotSubject carries reconciliation snapshots.
func SnapshotSubject(fundID string) string { return "ledger." + fundID + ".snapshot" }

// Envelope is the CloudEvents 1.0 structured envelope of an inbound event.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// Event is the decoded, field-validated data of one inbound event. The
// concrete types below are the only implementations.
type Event interface {
	EventType() string
}

// Program is one entry of fund.opened's programs. Cap nil means no cap.
type Program struct {
	Code string
	Cap  *decimal.Decimal
}

// FundOpened opens a fund's book.
type FundOpened struct {
	FundID   string
	Name     string
	Currency string // "CNY" when absent
	Programs []Program
}

// ProgramSet adds a program or changes its cap from now on. Cap nil removes
// the cap.
type ProgramSet struct {
	Program string
	Cap     *decimal.Decimal
}

// ContributionReceived is money received into the fund.
type ContributionReceived struct {
	ContributionID string
	SourceKind     string // fiscal, donation or other
	Payer          string
	Amount         decimal.Decimal
	BankRef        string
	ReceivedOn     time.Time // a date, UTC midnight
}

// AllocationApproved moves money from this fund to ToFundID.
type AllocationApproved struct {
	AllocationID string
	ToFundID     string
	Amount       decimal.Decimal
	ApprovedBy   string
	ApprovedOn   time.Time // optional business date; zero when absent
}

// GrantApproved approves one grant to one beneficiary.
type GrantApproved struct {
	GrantID        string
	BeneficiaryRef string
	Program        string
	Category       string
	Amount         decimal.Decimal
	RequestedBy    string
	ApprovedBy     string
	ApprovedOn     time.Time // a date, UTC midnight
}

// BatchLine is one line of a grant.batch.approved.
type BatchLine struct {
	GrantID        string
	BeneficiaryRef string
	Category       string
	Amount         decimal.Decimal
	// Raw is the line's JSON as received; it is the line's content for
	// business-id comparison.
	Raw json.RawMessage
	// DataHash is ContentHash(Raw), computed while the message was read:
	// a caller comparing line contents need not parse Raw again.
	DataHash [32]byte
	// Refused is set when the line's own fields are not valid; the other
	// fields are then unreliable, except that GrantID is kept when the
	// grant_id itself was valid, so that a later line repeating it is still
	// a duplicate.
	Refused *LineError
}

// GrantBatchApproved approves many grants of one program at once, all or
// none. Lines holds every line of data.lines, in order, so a line's index
// is its position. A line whose fields are not valid is decoded with
// Refused set rather than refusing the event in the decoder: the contract
// has the batch name each bad line (also those the books refuse, such as a
// grant_id taken before) and take its code from the first one, which only
// the posting rules (ledger.Books.Apply) can do.
type GrantBatchApproved struct {
	BatchID     string
	Program     string
	RequestedBy string
	ApprovedBy  string
	ApprovedOn  time.Time
	Lines       []BatchLine
}

// GrantDisbursed pays (part of) a grant.
type GrantDisbursed struct {
	GrantID   string
	PaymentID string
	Amount    decimal.Decimal
	BankRef   string
	PaidOn    time.Time
}

// PaymentReturned is a payment the bank sent back.
type PaymentReturned struct {
	GrantID    string
	PaymentID  string
	Amount     decimal.Decimal
	Reason     string
	ReturnedOn time.Time // optional business date; zero when absent
}

// GrantCancelled closes a grant and releases its outstanding amount.
type GrantCancelled struct {
	GrantID     string
	CancelledBy string
	Reason      string
	CancelledOn time.Time // optional business date; zero when absent
}

// GrantRecovered is money paid wrongly and paid back.
type GrantRecovered struct {
	GrantID     string
	RecoveryID  string
	Amount      decimal.Decimal
	BankRef     string
	Reason      string
	RecoveredOn time.Time // optional business date; zero when absent
}

// SnapshotRequested asks for a snapshot of the fund at this point.
type SnapshotRequested struct {
	RequestedBy string
	Label       string
}

func (FundOpened) EventType() string           { return TypeFundOpened }
func (ProgramSet) EventType() string           { return TypeProgramSet }
func (ContributionReceived) EventType() string { return TypeContributionReceived }
func (AllocationApproved) EventType() string   { return TypeAllocationApproved }
func (GrantApproved) EventType() string        { return TypeGrantApproved }
func (GrantBatchApproved) EventType() string   { return TypeGrantBatchApproved }
func (GrantDisbursed) EventType() string       { return TypeGrantDisbursed }
func (PaymentReturned) EventType() string      { return TypePaymentReturned }
func (GrantCancelled) EventType() string       { return TypeGrantCancelled }
func (GrantRecovered) EventType() string       { return TypeGrantRecovered }
func (SnapshotRequested) EventType() string    { return TypeSnapshotRequested }

// Decoded is the outcome of Decode for one inbound message.
//
// The contract orders checks as: JSON, envelope id, already-seen id, the
// other envelope fields, the data fields, then checks that need the books.
// Decode cannot know whether an id was seen, so it reports the id apart from
// the verdict: the caller first looks ID up in its inbox (when ID is not
// empty) and only then acts on Rejection.
type Decoded struct {
	// FundID is the subject's fund token, or UnknownFundID when that token is
	// not a valid fund id. It is set even for malformed messages.
	FundID string
	// ID is the envelope id when the JSON parsed and the id is valid; empty
	// otherwise (then Rejection is set). In binary content mode it is the
	// ce-id header whenever that is a valid id, even when the body is not
	// JSON or is too large (DecodeMessage).
	ID string
	// Type is the envelope type as received (may be empty or unknown when
	// Rejection is set).
	Type string
	// Envelope holds the envelope attributes that are strings (in binary
	// mode, the headers' values) and Data, the data value's JSON as
	// received (in binary mode the body, without surrounding whitespace),
	// copied out of the message.
	Envelope Envelope
	// DataHash is the canonical content hash of the envelope's data
	// object (see ContentHash), the same for the same data in structured
	// and binary mode; zero when the data is not a JSON object.
	DataHash [32]byte
	// Event is the typed data; nil when Rejection is set. A
	// GrantBatchApproved may carry lines with Refused set: Apply refuses it.
	Event Event
	// Rejection is the first failing check up to and including the data
	// fields, or nil. It never has Lines: bad batch lines are reported
	// through the event (see GrantBatchApproved).
	Rejection *Rejection
}
