package ledger

import (
	"context"
	"sort"
	"time"
)

// Loader reads the books' current state from the store, inside the unit of
// work's database transaction. Each method returns the entries that exist;
// keys it does not return are absent.
type Loader interface {
	Funds(ctx context.Context, ids []string) ([]*Fund, error)
	Grants(ctx context.Context, keys []GrantKey) ([]*Grant, error)
	Payments(ctx context.Context, keys []PaymentKey) ([]*Payment, error)
	BizIDs(ctx context.Context, keys []BizKey) ([]*BizID, error)
	CapUsage(ctx context.Context, keys []CapKey) ([]*CapUsage, error)
	PeriodLoader
}

// Settings are the books' tunables.
type Settings struct {
	// SnapshotEvery takes a snapshot after this many journal transactions
	// of a fund since its last one; 0 never.
	SnapshotEvery int64
	Signer        Signer
	// Zone is FUNDLEDGER_TZ (IntakeSettings.Zone); nil is DefaultZone.
	Zone  *time.Location
	Recon ReconSettings
}

// Books is the state one unit of work reads and changes: the entries it
// touched, loaded once from the store, and what it produced. Entries absent
// from the store are remembered as nil so they are looked up only once.
// Books is not safe for concurrent use; one writer applies events in
// stream order.
type Books struct {
	ctx      context.Context
	load     Loader
	settings Settings

	funds    map[string]*Fund
	grants   map[GrantKey]*Grant
	payments map[PaymentKey]*Payment
	biz      map[BizKey]*BizID
	caps     map[CapKey]*CapUsage
	periods  periodWork

	recon *reconBooks // the bank reconciliation's work (recon.go)

	// Produced by the unit of work, in order.
	Txns      []*Txn
	Activity  []*Activity
	Snapshots []*Snapshot
	// TreeNodes are the complete Merkle subtrees the new transactions
	// completed, of TreeStoredLevel and up, for the store to keep.
	TreeNodes []TreeNode
}

// NewBooks starts a unit of work over the store reached through load.
func NewBooks(ctx context.Context, load Loader, s Settings) *Books {
	return &Books{
		ctx: ctx, load: load, settings: s,
		funds:    map[string]*Fund{},
		grants:   map[GrantKey]*Grant{},
		payments: map[PaymentKey]*Payment{},
		biz:      map[BizKey]*BizID{},
		caps:     map[CapKey]*CapUsage{},
	}
}

// Needs lists the keys a set of events will read, so they can be loaded in
// a few round trips instead of one per key.
type Needs struct {
	Funds    map[string]bool
	Grants   map[GrantKey]bool
	Payments map[PaymentKey]bool
	Biz      map[BizKey]bool
	Caps     map[CapKey]bool
}

// NewNeeds is an empty set of needs.
func NewNeeds() *Needs {
	return &Needs{Funds: map[string]bool{}, Grants: map[GrantKey]bool{}, Payments: map[PaymentKey]bool{},
		Biz: map[BizKey]bool{}, Caps: map[CapKey]bool{}}
}

// Prefetch loads every needed entry not loaded yet, then the cap usage of
// grants that a cancellation may release.
func (b *Books) Prefetch(n *Needs) error {
	var fundIDs []string
	for id := range n.Funds {
		if _, ok := b.funds[id]; !ok {
			fundIDs = append(fundIDs, id)
		}
	}
	if err := b.loadFunds(fundIDs); err != nil {
		return err
	}
	var gks []GrantKey
	for k := range n.Grants {
		if _, ok := b.grants[k]; !ok {
			gks = append(gks, k)
		}
	}
	if err := b.loadGrants(gks); err != nil {
		return err
	}
	var pks []PaymentKey
	for k := range n.Payments {
		if _, ok := b.payments[k]; !ok {
			pks = append(pks, k)
		}
	}
	if err := b.loadPayments(pks); err != nil {
		return err
	}
	var bks []BizKey
	for k := range n.Biz {
		if _, ok := b.biz[k]; !ok {
			bks = append(bks, k)
		}
	}
	if err := b.loadBiz(bks); err != nil {
		return err
	}
	for k := range n.Grants {
		if g := b.grants[k]; g != nil {
			n.Caps[g.capKey()] = true
		}
	}
	var cks []CapKey
	for k := range n.Caps {
		if _, ok := b.caps[k]; !ok {
			cks = append(cks, k)
		}
	}
	return b.loadCaps(cks)
}

func (b *Books) loadFunds(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	got, err := b.load.Funds(b.ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		b.funds[id] = nil
	}
	for _, f := range got {
		b.funds[f.ID] = f
	}
	return nil
}

func (b *Books) loadGrants(keys []GrantKey) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := b.load.Grants(b.ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		b.grants[k] = nil
	}
	for _, g := range got {
		b.grants[g.GrantKey] = g
	}
	return nil
}

func (b *Books) loadPayments(keys []PaymentKey) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := b.load.Payments(b.ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		b.payments[k] = nil
	}
	for _, p := range got {
		b.payments[p.PaymentKey] = p
	}
	return nil
}

func (b *Books) loadBiz(keys []BizKey) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := b.load.BizIDs(b.ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		b.biz[k] = nil
	}
	for _, x := range got {
		b.biz[x.BizKey] = x
	}
	return nil
}

func (b *Books) loadCaps(keys []CapKey) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := b.load.CapUsage(b.ctx, keys)
	if err != nil {
		return err
	}
	for _, k := range keys {
		b.caps[k] = nil
	}
	for _, c := range got {
		b.caps[c.CapKey] = c
	}
	return nil
}

// Fund returns the fund or nil when it is not open.
func (b *Books) Fund(id string) (*Fund, error) {
	if f, ok := b.funds[id]; ok {
		return f, nil
	}
	if err := b.loadFunds([]string{id}); err != nil {
		return nil, err
	}
	return b.funds[id], nil
}

// Grant returns the grant or nil when it was never approved.
func (b *Books) Grant(k GrantKey) (*Grant, error) {
	if g, ok := b.grants[k]; ok {
		return g, nil
	}
	if err := b.loadGrants([]GrantKey{k}); err != nil {
		return nil, err
	}
	return b.grants[k], nil
}

// Payment returns the payment or nil when it was never made.
func (b *Books) Payment(k PaymentKey) (*Payment, error) {
	if p, ok := b.payments[k]; ok {
		return p, nil
	}
	if err := b.loadPayments([]PaymentKey{k}); err != nil {
		return nil, err
	}
	return b.payments[k], nil
}

// Biz returns who took a business id, or nil.
func (b *Books) Biz(k BizKey) (*BizID, error) {
	if x, ok := b.biz[k]; ok {
		return x, nil
	}
	if err := b.loadBiz([]BizKey{k}); err != nil {
		return nil, err
	}
	return b.biz[k], nil
}

// Cap returns the usage entry, creating an empty one when absent.
func (b *Books) Cap(k CapKey) (*CapUsage, error) {
	c, ok := b.caps[k]
	if !ok {
		if err := b.loadCaps([]CapKey{k}); err != nil {
			return nil, err
		}
		c = b.caps[k]
	}
	if c == nil {
		c = NewCapUsage(k, zero)
		b.caps[k] = c
	}
	return c, nil
}

func (g *Grant) capKey() CapKey {
	return CapKey{FundID: g.FundID, Program: g.Program, Beneficiary: g.BeneficiaryRef, Year: g.ApprovedOn.Year()}
}

// Changes lists what the unit of work changed, for the store to write.
type Changes struct {
	Funds    []*Fund
	Grants   []*Grant
	Payments []*Payment
	Biz      []*BizID
	Caps     []*CapUsage
}

// Changes returns every entry created or changed, in a stable order.
func (b *Books) Changes() Changes {
	var c Changes
	for _, f := range b.funds {
		if f != nil && (f.New || f.Dirty) {
			c.Funds = append(c.Funds, f)
		}
	}
	sort.Slice(c.Funds, func(i, j int) bool { return c.Funds[i].ID < c.Funds[j].ID })
	for _, g := range b.grants {
		if g != nil && (g.New || g.Dirty) {
			c.Grants = append(c.Grants, g)
		}
	}
	for _, p := range b.payments {
		if p != nil && (p.New || p.Dirty) {
			c.Payments = append(c.Payments, p)
		}
	}
	for _, x := range b.biz {
		if x != nil && x.New {
			c.Biz = append(c.Biz, x)
		}
	}
	for _, u := range b.caps {
		if u != nil && u.Dirty {
			c.Caps = append(c.Caps, u)
		}
	}
	return c
}

// nowOrHead keeps a fund's recorded times from going backwards when the
// clock does, so the journal's times follow its order.
func nowOrHead(f *Fund, t time.Time) time.Time {
	if f.HeadSeq > 0 && t.Before(f.HeadTime) {
		return f.HeadTime
	}
	return t
}
