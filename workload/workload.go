// Package workload generates a realistic, seeded stream of the events of
// DOMAIN.md: a city care fund and up to 38 district funds of Chongqing,
// their appropriations, donations and allocations, care-fund grants one at a
// time with their payments, returns, cancellations and recoveries, monthly
// pension and allowance batches of thousands of lines, and a share of bad
// events of every kind the contract refuses.
//
// The same Config (seed included) always gives the same bytes. Events are
// streamed to a callback a month at a time, so a stream of millions of
// events is never held in memory.
//
// While it generates, the package keeps each fund's cash and grants payable
// and each beneficiary's yearly usage of every capped program, so that an
// event meant to be good really is good in stream order (no accidental
// insufficient_funds or beneficiary_cap_exceeded), and it counts what the
// ledger should do with the stream (Expected): which codes it should refuse
// and how often, how many journal transactions it should post and what each
// fund's balances should be at the end.
//
// Writers: JSONLines writes the `{"subject": ..., "event": {...}}` lines
// that `fundledger publish FILE` reads; package workload/jetstream publishes
// straight to JetStream.
package workload

import (
	"fmt"

	"github.com/fundledger/fundledger/events"
)

// CityFundID is the city's care fund; it receives the city budget and
// allocates to the districts.
const CityFundID = "cq-city-care"

// UnknownFundID is a valid fund id that no stream ever opens: events for it
// are refused as unknown_fund.
const UnknownFundID = "liangjiang-care"

// District is a district or county of Chongqing with a care fund.
type District struct {
	Short   string // pinyin, the fund id without "-care"
	Chinese string // the name in Chinese
	County  bool   // 县 rather than 区
}

// FundID is the district's fund id.
func (d District) FundID() string { return d.Short + "-care" }

// Districts are the 38 districts and counties, in the order funds are
// taken: Config.Funds = 1 is Jiangjin alone, 2 adds Yubei, and so on.
var Districts = []District{
	{"jiangjin", "江津", false}, {"yubei", "渝北", false}, {"wanzhou", "万州", false}, {"fuling", "涪陵", false},
	{"yuzhong", "渝中", false}, {"dadukou", "大渡口", false}, {"jiangbei", "江北", false}, {"shapingba", "沙坪坝", false},
	{"jiulongpo", "九龙坡", false}, {"nanan", "南岸", false}, {"beibei", "北碚", false}, {"qijiang", "綦江", false},
	{"dazu", "大足", false}, {"banan", "巴南", false}, {"qianjiang", "黔江", false}, {"changshou", "长寿", false},
	{"hechuan", "合川", false}, {"yongchuan", "永川", false}, {"nanchuan", "南川", false}, {"bishan", "璧山", false},
	{"tongliang", "铜梁", false}, {"tongnan", "潼南", false}, {"rongchang", "荣昌", false}, {"kaizhou", "开州", false},
	{"liangping", "梁平", false}, {"wulong", "武隆", false},
	{"chengkou", "城口", true}, {"fengdu", "丰都", true}, {"dianjiang", "垫江", true}, {"zhongxian", "忠", true},
	{"yunyang", "云阳", true}, {"fengjie", "奉节", true}, {"wushan", "巫山", true}, {"wuxi", "巫溪", true},
	{"shizhu", "石柱", true}, {"xiushan", "秀山", true}, {"youyang", "酉阳", true}, {"pengshui", "彭水", true},
}

// Config shapes a stream. Zero values mean "none" (no batches, no bad
// events...), except Year and Months; start from Default or Demo.
type Config struct {
	Seed int64
	// Funds is the number of district funds besides the city fund, 0 to 38.
	Funds int
	// Year is the first calendar year (default 2026); Months how many
	// months from its January (default 12).
	Year, Months int
	// GrantsPerMonth is how many single grants (care_fund mostly, also
	// three_difficulties, medical_aid, martyr_family, self_employment) each
	// granting fund approves a month. The districts grant; the city fund
	// grants too when CityGrants is set (with Funds = 0 it is the only one).
	GrantsPerMonth int
	CityGrants     bool
	// Lifecycle adds, to a few single grants, split payments, returned
	// payments, cancellations and recoveries.
	Lifecycle bool
	// BatchLines is the number of lines of each district's monthly
	// pension_subsidy batch (1 to 10,000); 0 means no batches.
	BatchLines int
	// Allowances adds conscript_family (half-yearly), spouse_living
	// (monthly) and holiday_condolence (seasonal) batches, sized from
	// BatchLines.
	Allowances bool
	// PayBatches pays every batch line with its own grant.disbursed.
	PayBatches bool
	// BadRate is the probability that a bad event follows a good one; the
	// bad kinds (see BadKinds) take turns at random.
	BadRate float64
	// DupRate is the probability that a good event is sent again: either
	// the same envelope (same id, same bytes) or its data under a new
	// envelope id.
	DupRate float64
	// EarlyRate is the probability that a single grant's payment is
	// published before its approval (held, then posted).
	EarlyRate float64
	// MonthEndSnapshots asks every fund for a snapshot labelled YYYY-MM at
	// each month's end.
	MonthEndSnapshots bool
	// ProgramChanges raises the districts' care_fund cap mid-year with
	// fund.program.set.
	ProgramChanges bool
	// MonthCloses closes every fund's previous month (period.closed) on
	// the first working day of each month after the first, and sends about
	// 1 in 100 single-grant payments only after their month was closed,
	// dated in it (prior-period adjustments). The stream's last month is
	// left open. The ledger must apply it after each month has ended in
	// FUNDLEDGER_TZ, or the closes are refused.
	MonthCloses bool
	// BankStatements sends every fund, on the first working day of each
	// month after the first, the bank's statement of the month before
	// (workload/statements.go): bulk payments of batches as one entry,
	// some payments of the month's last days not yet cleared, a bank fee
	// and interest the fund then books.
	BankStatements bool
}

// Default is the whole city for a year: 38 districts, care grants one at a
// time, monthly pension batches of 3,000 lines and the allowances, all paid,
// with 1% bad events, 0.5% duplicates and 2% early payments.
func Default(seed int64) Config {
	return Config{Seed: seed, Funds: 38, Year: 2026, Months: 12, GrantsPerMonth: 36, Lifecycle: true,
		BatchLines: 3000, Allowances: true, PayBatches: true, BadRate: 0.01, DupRate: 0.005, EarlyRate: 0.02,
		MonthEndSnapshots: true, ProgramChanges: true, MonthCloses: true}
}

// Demo is a year of one district (Jiangjin) at DOMAIN.md sizes, with the
// city fund: about 427 care-fund grants, twelve pension batches of a few
// thousand lines, conscript-family and other allowances.
func Demo(seed int64) Config {
	c := Default(seed)
	c.Funds = 1
	c.BankStatements = true
	return c
}

// Msg is one message to publish on Subject, with the JetStream header
// Nats-Msg-Id set to ID (empty when the data has no readable id).
type Msg struct {
	Subject string
	ID      string
	Data    []byte
	// Want is the code the ledger should refuse the message with; empty
	// for a message meant to be good (or a duplicate, which is not refused).
	Want events.Code
	// Kind names what the message is for, e.g. "grant", "batch",
	// "bad:cap_exceeded", "resend", "early".
	Kind string
}

// FundTotals are a fund's balances as the stream should leave them.
type FundTotals struct {
	Cash, GrantsPayable, Available string
}

// Expected is what the ledger should make of the stream, counted while it
// was generated.
type Expected struct {
	Messages int // messages emitted
	Good     int // messages meant to be applied (first copies)
	Bad      int // messages meant to be refused
	// Resent are exact re-sends (same envelope id and bytes): the stream's
	// duplicate window drops them, or the ledger's inbox does. No effect.
	Resent int
	// Duplicates are business-id duplicates (same data, new envelope id):
	// acknowledged, no effect, not a rejection.
	Duplicates int
	// Early are payments published before their approval: held, then
	// posted when the approval arrives.
	Early int
	// LatePayments are payments published after their month was closed
	// (MonthCloses): each a prior-period adjustment.
	LatePayments int
	// Statements are the bank statements sent (BankStatements).
	Statements int
	// Rejections counts the intended refusals by code, including the held
	// events refused when the hold window passes (unknown_grant,
	// unknown_payment).
	Rejections map[events.Code]int
	// Txns is the number of journal transactions the stream should post.
	Txns int64
	// Batches and BatchLines count the batches (and their lines) that
	// should be posted.
	Batches    int
	BatchLines int64
	// Grants counts approved single grants and batch lines.
	Grants int64
	// Funds is each fund's expected balances at the end, keyed by fund id.
	Funds map[string]FundTotals
	// FundIDs lists the funds the stream opens, the city first.
	FundIDs []string
	// Skipped counts good events the generator dropped because the state
	// at that point would have refused them (kept for honesty; it should
	// be 0 with any sensible Config).
	Skipped int
}

// BadKinds are the kinds of bad event the generator makes, each with the
// code the ledger must refuse it with.
var BadKinds = []struct {
	Kind string
	Code events.Code
}{
	{"malformed_json", events.Malformed},
	{"unknown_type", events.UnsupportedType},
	{"amount_number", events.InvalidAmount},
	{"amount_3_decimals", events.InvalidAmount},
	{"amount_zero", events.InvalidAmount},
	{"amount_huge", events.InvalidAmount},
	{"missing_field", events.MissingField},
	{"bad_date", events.InvalidField},
	{"same_maker_checker", events.SameMakerChecker},
	{"unknown_program", events.UnknownProgram},
	{"cap_exceeded", events.BeneficiaryCapExceeded},
	{"insufficient_funds", events.InsufficientFunds},
	{"unknown_fund", events.UnknownFund},
	{"fund_exists", events.FundExists},
	{"duplicate_id", events.DuplicateID},
	{"exceeds_outstanding", events.ExceedsOutstanding},
	{"grant_closed", events.GrantClosed},
	{"unknown_grant", events.UnknownGrant},
	{"unknown_payment", events.UnknownPayment},
	// too_large (a batch of 10,001 lines) is not drawn at random: one is
	// sent every six months when BadRate > 0 and there are batches.
}

func (c *Config) check() error {
	if c.Year == 0 {
		c.Year = 2026
	}
	if c.Months == 0 {
		c.Months = 12
	}
	switch {
	case c.Funds < 0 || c.Funds > len(Districts):
		return fmt.Errorf("workload: Funds is %d; 0 to %d district funds", c.Funds, len(Districts))
	case c.Months < 0 || c.Months > 1200:
		return fmt.Errorf("workload: Months is %d; 1 to 1200", c.Months)
	case c.Year < 2000 || c.Year > 2999:
		return fmt.Errorf("workload: Year is %d", c.Year)
	case c.BatchLines < 0 || c.BatchLines > events.MaxBatchLines:
		return fmt.Errorf("workload: BatchLines is %d; 0 to %d", c.BatchLines, events.MaxBatchLines)
	case c.GrantsPerMonth < 0:
		return fmt.Errorf("workload: GrantsPerMonth is %d", c.GrantsPerMonth)
	case !(c.BadRate >= 0 && c.BadRate < 1) || !(c.DupRate >= 0 && c.DupRate < 1) || !(c.EarlyRate >= 0 && c.EarlyRate <= 1):
		return fmt.Errorf("workload: BadRate, DupRate and EarlyRate are probabilities below 1")
	}
	return nil
}

// Generate streams the events of cfg to emit, in publishing order, and
// returns what the ledger should make of them. It stops at the first error
// emit returns.
func Generate(cfg Config, emit func(Msg) error) (Expected, error) {
	if err := cfg.check(); err != nil {
		return Expected{}, err
	}
	g := newGen(cfg, emit)
	err := g.run()
	return g.expected(), err
}

// Count runs Generate with a callback that only counts: the number of
// messages and bytes cfg produces.
func Count(cfg Config) (msgs int, bytes int64, err error) {
	_, err = Generate(cfg, func(m Msg) error {
		msgs++
		bytes += int64(len(m.Data))
		return nil
	})
	return msgs, bytes, err
}
