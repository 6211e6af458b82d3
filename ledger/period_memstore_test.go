package ledger_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
)

// msPeriods is the period tables of migrations/014_periods.sql in memory,
// written as ledger/postgres/periods.go writes them.
type msPeriods struct {
	state       map[string]ledger.PeriodState // fund_periods
	figures     map[ledger.FigureKey]decimal.Decimal
	bens        map[ledger.BeneficiaryKey]bool
	adjustments map[msAccount2]ledger.PeriodAdjustment
	allocations map[msAccount2]ledger.PeriodAllocation
	reports     map[string]map[string][]byte // fund -> period -> body
}

type msAccount2 struct {
	fund string
	seq  int64
}

func (p *msPeriods) init() {
	if p.state == nil {
		p.state = map[string]ledger.PeriodState{}
		p.figures = map[ledger.FigureKey]decimal.Decimal{}
		p.bens = map[ledger.BeneficiaryKey]bool{}
		p.adjustments = map[msAccount2]ledger.PeriodAdjustment{}
		p.allocations = map[msAccount2]ledger.PeriodAllocation{}
		p.reports = map[string]map[string][]byte{}
	}
}

func (s *memStore) PeriodFigures(_ context.Context, fundID, upTo string) ([]ledger.Figure, error) {
	var out []ledger.Figure
	for k, v := range s.periods.figures {
		if k.FundID == fundID && k.Period <= upTo {
			out = append(out, ledger.Figure{FigureKey: k, Amount: v})
		}
	}
	return out, nil
}

func (s *memStore) PeriodBeneficiaries(_ context.Context, fundID, from, to string, extra []ledger.BeneficiaryKey) (map[string]int64, error) {
	type pb struct{ program, ben string }
	seen := map[pb]bool{}
	add := func(k ledger.BeneficiaryKey) {
		if k.FundID == fundID && k.Period >= from && k.Period <= to {
			seen[pb{k.Program, k.Beneficiary}] = true
		}
	}
	for k := range s.periods.bens {
		add(k)
	}
	for _, k := range extra {
		add(k)
	}
	out := map[string]int64{}
	for k := range seen {
		out[k.program]++
	}
	return out, nil
}

func (s *memStore) PeriodAdjustments(_ context.Context, fundID, from, to string) ([]ledger.PeriodAdjustment, error) {
	var out []ledger.PeriodAdjustment
	for _, a := range s.periods.adjustments {
		if a.FundID == fundID && a.Period >= from && a.Period <= to {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JournalSeq < out[j].JournalSeq })
	return out, nil
}

// writePeriods refuses what the tables' keys and CHECKs refuse.
func (s *memStore) writePeriods(out *ledger.BatchOutput) error {
	p := &s.periods
	p.init()
	ch := out.Books.PeriodChanges()
	for _, f := range ch.Figures {
		v := p.figures[f.FigureKey].Add(f.Amount)
		if v.IsNegative() {
			return fmt.Errorf("period_figures: %v below zero", f.FigureKey)
		}
		p.figures[f.FigureKey] = v
	}
	for _, k := range ch.Beneficiaries {
		if !p.bens[k] { // the count the insert's statement keeps
			p.bens[k] = true
			fk := ledger.FigureKey{FundID: k.FundID, Period: k.Period, Kind: ledger.FigBeneficiaries, Name: k.Program}
			p.figures[fk] = p.figures[fk].Add(decimal.NewFromInt(1))
		}
	}
	for _, a := range ch.Adjustments {
		k := msAccount2{a.FundID, a.JournalSeq}
		if _, ok := p.adjustments[k]; ok {
			return fmt.Errorf("period_adjustments: %v twice", k)
		}
		p.adjustments[k] = *a
	}
	for _, a := range ch.Allocations {
		k := msAccount2{a.FundID, a.JournalSeq}
		if _, ok := p.allocations[k]; ok {
			return fmt.Errorf("period_allocations: %v twice", k)
		}
		p.allocations[k] = *a
	}
	for _, f := range ch.Closed {
		if s.funds[f.ID] == nil {
			return fmt.Errorf("fund_periods: fund %s is not stored", f.ID)
		}
		p.state[f.ID] = f.Close
	}
	for _, r := range ch.Reports {
		if p.reports[r.FundID] == nil {
			p.reports[r.FundID] = map[string][]byte{}
		}
		if p.reports[r.FundID][r.Period] != nil {
			return fmt.Errorf("period_reports: %s %s twice", r.FundID, r.Period)
		}
		p.reports[r.FundID][r.Period] = r.JSON()
	}
	return nil
}

// The period records of an empty database (apply_property_test.go,
// auditdoc_test.go): only what the unit of work itself did.

func (emptyStore) PeriodFigures(context.Context, string, string) ([]ledger.Figure, error) {
	return nil, nil
}
func (emptyStore) PeriodBeneficiaries(_ context.Context, fund, from, to string, extra []ledger.BeneficiaryKey) (map[string]int64, error) {
	return newMemStore().PeriodBeneficiaries(context.Background(), fund, from, to, extra)
}
func (emptyStore) PeriodAdjustments(context.Context, string, string, string) ([]ledger.PeriodAdjustment, error) {
	return nil, nil
}

func (vtLoader) PeriodFigures(context.Context, string, string) ([]ledger.Figure, error) {
	return nil, nil
}
func (vtLoader) PeriodBeneficiaries(_ context.Context, fund, from, to string, extra []ledger.BeneficiaryKey) (map[string]int64, error) {
	return newMemStore().PeriodBeneficiaries(context.Background(), fund, from, to, extra)
}
func (vtLoader) PeriodAdjustments(context.Context, string, string, string) ([]ledger.PeriodAdjustment, error) {
	return nil, nil
}
