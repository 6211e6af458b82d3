package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/shopspring/decimal"
)

// PeriodVerifier recomputes a fund's period reports from its journal, as
// docs/audit.md section 3b tells an auditor to, and says where a report
// differs. Feed it the fund's transactions in seq order (Add), then ask
// for the problems (Problems). It keeps one set of sums per report, not
// the journal.
type PeriodVerifier struct {
	loc     *time.Location
	reports []*PeriodReport // month order
	sums    []*periodSums
	lastSeq int64
	// tree is the Merkle tree of the transactions given to Add; a
	// Verifier gives its own tree's root instead (add).
	tree merkle.Frontier
}

type periodSums struct {
	dr, cr  map[string]decimal.Decimal
	program map[string]*[5]decimal.Decimal
	bens    map[string]map[string]bool
	adj     []PeriodAdjustmentLine
	head    string // hash of transaction as_of_journal_seq
	root    string // the journal's tree_root at as_of_journal_seq
}

// NewPeriodVerifier checks reports (a fund's, any order) with business
// dates from the clock taken in loc (FUNDLEDGER_TZ; nil is DefaultZone).
func NewPeriodVerifier(reports []*PeriodReport, loc *time.Location) *PeriodVerifier {
	if loc == nil {
		loc = defaultLoc
	}
	rs := append([]*PeriodReport(nil), reports...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Period < rs[j].Period })
	v := &PeriodVerifier{loc: loc, reports: rs}
	for range rs {
		v.sums = append(v.sums, &periodSums{dr: map[string]decimal.Decimal{}, cr: map[string]decimal.Decimal{},
			program: map[string]*[5]decimal.Decimal{}, bens: map[string]map[string]bool{}, head: hex.EncodeToString(GenesisHash),
			root: merkle.EmptyRoot.Hex()})
	}
	return v
}

// Add takes the fund's next transaction.
func (v *PeriodVerifier) Add(t *Txn) {
	v.tree.Append(merkle.LeafHash(t.Hash), nil)
	v.add(t, func() string { r := v.tree.Root(); return r.Hex() })
}

// add takes the fund's next transaction and the root of the journal's
// Merkle tree up to it (called only at a report's as_of_journal_seq).
func (v *PeriodVerifier) add(t *Txn, root func() string) {
	v.lastSeq = t.Seq
	last := "" // the last month closed before t was posted
	for _, r := range v.reports {
		if r.AsOfJournalSeq < t.Seq {
			last = r.Period
		}
	}
	for i, r := range v.reports {
		if r.AsOfJournalSeq == t.Seq {
			v.sums[i].head = hex.EncodeToString(t.Hash)
			v.sums[i].root = root()
		}
	}
	bp := BusinessPeriod(t, v.loc)
	rp, adj := ReportingPeriod(bp, last)
	i := -1 // the report covering t
	for k, r := range v.reports {
		if t.Seq <= r.AsOfJournalSeq && (rp == r.Period || (r.First && rp < r.Period)) {
			i = k
			break
		}
	}
	if i < 0 {
		return
	}
	s := v.sums[i]
	amount := TxnAmount(t)
	for _, p := range t.Postings {
		if p.Side == Debit {
			s.dr[p.Account] = s.dr[p.Account].Add(p.Amount)
		} else {
			s.cr[p.Account] = s.cr[p.Account].Add(p.Amount)
		}
	}
	if kind, program, ok := ProgramFigure(t); ok {
		a := s.program[program]
		if a == nil {
			a = &[5]decimal.Decimal{}
			s.program[program] = a
		}
		a[kind-FigApproved] = a[kind-FigApproved].Add(amount)
		if kind == FigApproved {
			if s.bens[program] == nil {
				s.bens[program] = map[string]bool{}
			}
			s.bens[program][refValue(t.Refs, "beneficiary_ref")] = true
		}
	}
	if adj {
		s.adj = append(s.adj, PeriodAdjustmentLine{JournalSeq: t.Seq, Type: t.Type, BusinessPeriod: bp, Amount: Money(amount)})
	}
}

// Problems compares every report with its recomputation and, when keys
// is not nil, checks its signature; nil when everything matches.
func (v *PeriodVerifier) Problems(keys map[string]ed25519.PublicKey) []string {
	var out []string
	for _, p := range v.check(keys) {
		out = append(out, p.Message)
	}
	return out
}

// check is Problems with each problem's kind (ProblemPeriod or
// ProblemSignature) and seq (the report's as_of_journal_seq).
func (v *PeriodVerifier) check(keys map[string]ed25519.PublicKey) []Problem {
	var out []Problem
	kind := ProblemPeriod
	bad := func(r *PeriodReport, format string, args ...any) {
		out = append(out, Problem{Seq: r.AsOfJournalSeq, Kind: kind, Message: fmt.Sprintf("period %s: ", r.Period) + fmt.Sprintf(format, args...)})
	}
	closing := map[string]decimal.Decimal{}
	prev, prevV2 := ZeroHash, false // the hash of the report before, and whether one was version 2
	for i, r := range v.reports {
		s := v.sums[i]
		kind = ProblemPeriod
		switch {
		case r.TreeSize == nil && prevV2:
			bad(r, "a version 1 report (no tree_size, tree_root, prev_report_hash) after a version 2 one")
		case r.TreeSize != nil:
			if r.PrevReportHash != prev {
				bad(r, "prev_report_hash is %s, but the report before it hashes to %s: a report was removed, changed or reordered",
					r.PrevReportHash, prev)
			}
			if *r.TreeSize != r.AsOfJournalSeq {
				bad(r, "tree_size %d is not its as_of_journal_seq %d", *r.TreeSize, r.AsOfJournalSeq)
			} else if r.AsOfJournalSeq <= v.lastSeq && r.TreeRoot != s.root {
				bad(r, "tree_root %s, the journal's tree of %d transactions has root %s", r.TreeRoot, r.AsOfJournalSeq, s.root)
			}
			prevV2 = true
		}
		prev = hex.EncodeToString(PeriodReportHash(r))
		if r.First != (i == 0) {
			bad(r, "first is %t", r.First)
		}
		if i > 0 && r.Period != NextPeriod(v.reports[i-1].Period) {
			bad(r, "does not follow %s", v.reports[i-1].Period)
		}
		if r.AsOfJournalSeq > v.lastSeq {
			bad(r, "as_of_journal_seq %d is past the journal's last transaction %d", r.AsOfJournalSeq, v.lastSeq)
		} else if r.ChainHead != s.head {
			bad(r, "chain_head %s, the journal's transaction %d has %s", r.ChainHead, r.AsOfJournalSeq, s.head)
		}
		listed := map[string]bool{}
		for _, a := range r.Accounts {
			listed[a.Account] = true
			open := closing[a.Account]
			move := s.dr[a.Account].Sub(s.cr[a.Account])
			if !DebitNormal(a.Account) {
				move = move.Neg()
			}
			want := PeriodAccount{Account: a.Account, Opening: Money(open), Debits: Money(s.dr[a.Account]),
				Credits: Money(s.cr[a.Account]), Closing: Money(open.Add(move))}
			if a != want {
				bad(r, "account %s is %s/%s/%s/%s (opening/debits/credits/closing), the journal gives %s/%s/%s/%s",
					a.Account, a.Opening, a.Debits, a.Credits, a.Closing, want.Opening, want.Debits, want.Credits, want.Closing)
			}
			closing[a.Account] = open.Add(move)
		}
		for _, m := range []map[string]decimal.Decimal{s.dr, s.cr} {
			for acct := range m {
				if !listed[acct] {
					bad(r, "account %s has postings in the period and is not listed", acct)
					listed[acct] = true
				}
			}
		}
		progListed := map[string]bool{}
		for _, p := range r.Programs {
			progListed[p.Program] = true
			a := s.program[p.Program]
			if a == nil {
				a = &[5]decimal.Decimal{}
			}
			got := strings.Join([]string{p.Approved, p.Cancelled, p.Paid, p.Returned, p.Recovered, fmt.Sprint(p.Beneficiaries)}, "/")
			want := strings.Join([]string{Money(a[0]), Money(a[1]), Money(a[2]), Money(a[3]), Money(a[4]), fmt.Sprint(len(s.bens[p.Program]))}, "/")
			if got != want {
				bad(r, "program %s is %s (approved/cancelled/paid/returned/recovered/beneficiaries), the journal gives %s", p.Program, got, want)
			}
		}
		for p := range s.program {
			if !progListed[p] {
				bad(r, "program %s has transactions in the period and is not listed", p)
			}
		}
		netCredit := func(acct string) string { return Money(s.cr[acct].Sub(s.dr[acct])) }
		wantC := PeriodContributions{Fiscal: netCredit(ContributionAccount("fiscal")), Donation: netCredit(ContributionAccount("donation")),
			Other: netCredit(ContributionAccount("other"))}
		if r.Contributions != wantC {
			bad(r, "contributions %+v, the journal gives %+v", r.Contributions, wantC)
		}
		wantA := PeriodAllocations{In: netCredit(AccountAllocIn), Out: Money(s.dr[AccountAllocOut].Sub(s.cr[AccountAllocOut]))}
		if r.Allocations != wantA {
			bad(r, "allocations %+v, the journal gives %+v", r.Allocations, wantA)
		}
		if fmt.Sprint(r.Adjustments) != fmt.Sprint(nonNilAdj(s.adj)) {
			bad(r, "adjustments %v, the journal gives %v", r.Adjustments, s.adj)
		}
		if keys != nil {
			kind = ProblemSignature
			pub, ok := LookupKey(keys, r.KeyID)
			sig, err := base64.StdEncoding.DecodeString(r.Signature)
			switch {
			case !ok:
				bad(r, "signed by key %s, which is not one of the ledger's", r.KeyID)
			case err != nil || !ed25519.Verify(pub, PeriodSigningInput(r), sig):
				bad(r, "the signature does not verify with key %s", r.KeyID)
			}
		}
	}
	return out
}

func nonNilAdj(a []PeriodAdjustmentLine) []PeriodAdjustmentLine {
	if a == nil {
		return []PeriodAdjustmentLine{}
	}
	return a
}

// StoredPeriodReport is a period report as the store keeps it: the
// columns it is listed under, its JSON as the store reads it (Body, nil
// when not kept) and the exact bytes it was published with.
type StoredPeriodReport struct {
	Period               string
	First                bool
	ClosedBy, ApprovedBy string
	AsOfJournalSeq       int64
	Body                 []byte
	Published            []byte
}

// periodCheck is a Verifier's check of a fund's period reports: the
// recomputation of PeriodVerifier over the journal the Verifier reads,
// with the Verifier's Merkle tree, and what was found about the stored
// rows before.
type periodCheck struct {
	*PeriodVerifier
	n        int64
	problems []Problem
}

// PeriodReports gives v the fund's stored period reports (any order) and,
// when kept is not nil, the close state the store keeps for the fund;
// loc is the zone of business dates taken from the clock (FUNDLEDGER_TZ,
// nil for DefaultZone). Give them before the journal: each report is
// recomputed as the journal is read (docs/audit.md section 3b) and
// checked at End: its figures, chain_head, signature, tree_size and
// tree_root against the journal's tree, prev_report_hash against the
// report before, and its stored row against its published bytes.
func (v *Verifier) PeriodReports(stored []StoredPeriodReport, kept *PeriodState, loc *time.Location) {
	c := &periodCheck{n: int64(len(stored))}
	bad := func(seq int64, format string, args ...any) {
		c.problems = append(c.problems, Problem{FundID: v.fundID, Seq: seq, Kind: ProblemPeriod, Message: fmt.Sprintf(format, args...)})
	}
	var reports []*PeriodReport
	for _, st := range stored {
		name := "period report " + st.Period
		var r PeriodReport
		dec := json.NewDecoder(bytes.NewReader(st.Published))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			bad(st.AsOfJournalSeq, "%s is not a period report: %v", name, err)
			continue
		}
		if r.FundID != v.fundID {
			bad(st.AsOfJournalSeq, "%s is of fund %q", name, r.FundID)
			continue
		}
		if r.Period != st.Period || r.First != st.First || r.ClosedBy != st.ClosedBy || r.ApprovedBy != st.ApprovedBy ||
			r.AsOfJournalSeq != st.AsOfJournalSeq {
			bad(st.AsOfJournalSeq, "%s is stored as period %s (first %t, closed by %s, approved by %s, as of seq %d) but its published bytes say %s (%t, %s, %s, %d): the table was changed",
				name, st.Period, st.First, st.ClosedBy, st.ApprovedBy, st.AsOfJournalSeq, r.Period, r.First, r.ClosedBy, r.ApprovedBy, r.AsOfJournalSeq)
		}
		if st.Body != nil && !sameJSON(st.Body, st.Published) {
			bad(st.AsOfJournalSeq, "%s: its stored JSON (which the read API serves) says something else than its published bytes: the table was changed", name)
		}
		if !bytes.Equal(r.JSON(), st.Published) {
			bad(st.AsOfJournalSeq, "%s: its stored bytes are not the bytes the ledger publishes for what they say", name)
		}
		reports = append(reports, &r)
	}
	c.PeriodVerifier = NewPeriodVerifier(reports, loc)
	if kept != nil {
		rs := c.PeriodVerifier.reports
		switch {
		case kept.Reports != int64(len(stored)):
			bad(0, "the fund has made %d period reports but %d are stored", kept.Reports, len(stored))
		case len(rs) > 0 && kept.LastReportHash != "":
			if h := hex.EncodeToString(PeriodReportHash(rs[len(rs)-1])); h != kept.LastReportHash {
				bad(0, "the fund's kept last_report_hash %s is not the hash of its last stored report (%s, %s): the next report's prev_report_hash would not match",
					kept.LastReportHash, rs[len(rs)-1].Period, h)
			}
		}
		if len(rs) > 0 && kept.LastClosed < rs[len(rs)-1].Period {
			bad(0, "the fund is closed up to %q but has a report of %s", kept.LastClosed, rs[len(rs)-1].Period)
		}
	}
	v.periods = c
}

// PeriodReportsChecked counts the period reports given to PeriodReports.
func (v *Verifier) PeriodReportsChecked() int64 {
	if v.periods == nil {
		return 0
	}
	return v.periods.n
}

// treeRootHex is the root of the tree of the transactions read.
func (v *Verifier) treeRootHex() string {
	r := v.tree.Root()
	return r.Hex()
}

// endPeriods reports what was found about the period reports.
func (v *Verifier) endPeriods() {
	c := v.periods
	if c == nil {
		return
	}
	for _, p := range c.problems {
		v.Problemf(p.Seq, p.Kind, "%s", p.Message)
	}
	for _, p := range c.check(v.keys) {
		v.Problemf(p.Seq, p.Kind, "%s", p.Message)
	}
}
