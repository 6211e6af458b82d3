package workload

import (
	"encoding/json"
	"fmt"
	"time"
)

// The data of each event type, with the fields in the contract's order.

type dFundOpened struct {
	FundID   string     `json:"fund_id"`
	Name     string     `json:"name"`
	Currency string     `json:"currency"`
	Programs []dProgram `json:"programs"`
}

type dProgram struct {
	Code string `json:"code"`
	Cap  string `json:"annual_cap_per_beneficiary,omitempty"`
}

type dProgramSet struct {
	Program string  `json:"program"`
	Cap     *string `json:"annual_cap_per_beneficiary"`
}

type dContribution struct {
	ContributionID string `json:"contribution_id"`
	SourceKind     string `json:"source_kind"`
	Payer          string `json:"payer"`
	Amount         string `json:"amount"`
	BankRef        string `json:"bank_ref"`
	ReceivedOn     string `json:"received_on"`
}

type dAllocation struct {
	AllocationID string `json:"allocation_id"`
	ToFundID     string `json:"to_fund_id"`
	Amount       string `json:"amount"`
	ApprovedBy   string `json:"approved_by"`
	ApprovedOn   string `json:"approved_on,omitempty"` // the optional business date
}

type dGrant struct {
	GrantID        string `json:"grant_id"`
	BeneficiaryRef string `json:"beneficiary_ref"`
	Program        string `json:"program"`
	Category       string `json:"category"`
	Amount         string `json:"amount"`
	RequestedBy    string `json:"requested_by"`
	ApprovedBy     string `json:"approved_by"`
	ApprovedOn     string `json:"approved_on"`
}

// asMap is the grant as a map, for bad events that change a field.
func (d dGrant) asMap() map[string]any {
	return map[string]any{"grant_id": d.GrantID, "beneficiary_ref": d.BeneficiaryRef, "program": d.Program,
		"category": d.Category, "amount": d.Amount, "requested_by": d.RequestedBy, "approved_by": d.ApprovedBy,
		"approved_on": d.ApprovedOn}
}

type dBatch struct {
	BatchID     string  `json:"batch_id"`
	Program     string  `json:"program"`
	RequestedBy string  `json:"requested_by"`
	ApprovedBy  string  `json:"approved_by"`
	ApprovedOn  string  `json:"approved_on"`
	Lines       []dLine `json:"lines"`
}

type dLine struct {
	GrantID        string `json:"grant_id"`
	BeneficiaryRef string `json:"beneficiary_ref"`
	Category       string `json:"category"`
	Amount         string `json:"amount"`
}

type dDisbursed struct {
	GrantID   string `json:"grant_id"`
	PaymentID string `json:"payment_id"`
	Amount    string `json:"amount"`
	BankRef   string `json:"bank_ref"`
	PaidOn    string `json:"paid_on"`
}

type dReturned struct {
	GrantID   string `json:"grant_id"`
	PaymentID string `json:"payment_id"`
	Amount    string `json:"amount"`
	Reason    string `json:"reason"`
	// ReturnedOn is the optional business date (CONTRACT.md section 11).
	ReturnedOn string `json:"returned_on,omitempty"`
}

type dCancelled struct {
	GrantID     string `json:"grant_id"`
	CancelledBy string `json:"cancelled_by"`
	Reason      string `json:"reason"`
	CancelledOn string `json:"cancelled_on,omitempty"` // the optional business date
}

type dRecovered struct {
	GrantID    string `json:"grant_id"`
	RecoveryID string `json:"recovery_id"`
	Amount     string `json:"amount"`
	BankRef    string `json:"bank_ref"`
	Reason     string `json:"reason"`
	// RecoveredOn is the optional business date.
	RecoveredOn string `json:"recovered_on,omitempty"`
}

type dSnapshot struct {
	RequestedBy string `json:"requested_by"`
	Label       string `json:"label,omitempty"`
}

// envelope is the CloudEvents 1.0 structured envelope, fields in the
// contract's order.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// money formats cents as the contract's plain decimal with two places.
// Amounts are whole cents (int64) all through the generator: no float.
func money(cents int64) string {
	if cents < 0 {
		return "-" + money(-cents)
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// yuan is a whole amount of yuan in cents.
func yuan(n int64) int64 { return n * 100 }

// cst is China Standard Time, the zone of every timestamp in the stream.
var cst = time.FixedZone("CST", 8*3600)

// The categories of DOMAIN.md.
var categories = []string{"living", "medical", "housing", "education", "rehabilitation", "other"}

// programCaps are the yearly caps per beneficiary each fund opens with, in
// cents; 0 is no cap.
var programCaps = []struct {
	code string
	cap  int64
}{
	{"care_fund", yuan(20000)},
	{"pension_subsidy", 0},
	{"conscript_family", yuan(40000)},
	{"three_difficulties", yuan(30000)},
	{"medical_aid", 0},
	{"self_employment", 0},
	{"placement_living", 0},
	{"spouse_living", yuan(36000)},
	{"holiday_condolence", yuan(5000)},
	{"martyr_family", yuan(50000)},
}

// Reasons and payers, for realism of the free-text fields.
var (
	returnReasons  = []string{"account closed", "account name does not match", "bank card frozen", "beneficiary deceased; estate account pending"}
	cancelReasons  = []string{"application withdrawn", "duplicate application found at review", "beneficiary moved to another district", "eligibility not confirmed by the service station"}
	recoverReasons = []string{"paid twice by the bank", "income above the threshold, found at annual review",
		"paid after the beneficiary's death", "medical costs reimbursed by insurance"}
	donors = []string{"重庆市退役军人关爱协会", "Chongqing Veterans Care Association", "Chongqing Rural Commercial Bank",
		"Changan Automobile staff union", "individual donor", "district veterans care association", "Chongqing Red Cross"}
)

// ProgramCap is a program every generated fund opens with, and its yearly
// cap per beneficiary ("" for none), as written in fund.opened.
type ProgramCap struct{ Code, Cap string }

// Programs lists the programs every generated fund opens with.
func Programs() []ProgramCap {
	out := make([]ProgramCap, len(programCaps))
	for i, p := range programCaps {
		out[i] = ProgramCap{Code: p.code}
		if p.cap > 0 {
			out[i].Cap = money(p.cap)
		}
	}
	return out
}

// FundIDs are the fund ids a Config with n district funds opens, the city
// first.
func FundIDs(n int) []string {
	ids := []string{CityFundID}
	for _, d := range Districts[:min(max(n, 0), len(Districts))] {
		ids = append(ids, d.FundID())
	}
	return ids
}
