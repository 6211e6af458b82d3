// Package console is fundledger's web console: server-rendered HTML pages
// (html/template) over the same store reads as the read API, for finance
// officers and auditors (CONTRACT.md section 9: "GET / serves the web
// console"). docs/console.md describes the pages.
//
// The pages are routed by httpapi (routes.go), each behind the access
// check of the API endpoint whose data it shows, and read whom the request
// speaks for with httpapi.PrincipalOf: a fund outside the token's funds is
// a 404 before a page runs, a list shows only the token's funds, links to
// pages a role may not read are not drawn, and the raw bytes of a refused
// event are shown to auditors only.
//
// Progressive enhancement: every page, filter and pager works as plain
// HTML links and GET forms; htmx (hx-boost) swaps pages without a full
// reload when scripts run, and Apache ECharts draws the charts, each with
// a data table beside it for screen readers and for browsers without
// scripts. Both libraries are embedded (static/vendor, pinned by
// assets/package-lock.json; scripts/console-assets.sh refreshes them).
package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fundledger/fundledger/httpapi"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/shopspring/decimal"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// PageLimit is the journal's and the lists' page size when the query
// does not say (?limit=, 1 to postgres.MaxLimit).
const PageLimit = 50

// Console serves the pages. Its zero value is not usable: call New.
type Console struct {
	store *postgres.Store
	log   *slog.Logger
	pages map[string]*template.Template
	flows flowCache
}

var _ httpapi.Pages = (*Console)(nil)

// New returns the console over store; log receives the causes of 500
// answers (slog.Default when nil).
func New(store *postgres.Store, log *slog.Logger) *Console {
	if log == nil {
		log = slog.Default()
	}
	c := &Console{store: store, log: log, pages: map[string]*template.Template{}}
	for _, name := range []string{"funds", "fund", "journal", "grant", "beneficiary", "snapshots", "verify", "rejections", "error",
		"reconciliations", "periods", "period", "cityperiod"} {
		c.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return c
}

// page is what every page's template gets beside its own data.
type page struct {
	Lang     string            // zh or en
	HTMLLang string            // zh-CN or en
	T        map[string]string // the page's words in Lang
	Title    string
	Who      string // the token's subject, "" when the API is open
	Roles    string
	Open     bool
	Detail   bool   // may read journal, grants, beneficiaries, rejections
	Audit    bool   // may run verify and read raw rejected events
	OtherURL string // this page in the other language
	Fund     string // the fund the page is about, for the navigation
	Zone     string
	Data     any
}

func (c *Console) newPage(w http.ResponseWriter, r *http.Request, title string) *page {
	lang := language(w, r)
	p := httpapi.PrincipalOf(r)
	zone, _ := httpapi.Zone()
	pg := &page{Lang: lang, HTMLLang: map[string]string{"zh": "zh-CN", "en": "en"}[lang], T: messages[lang],
		Open: p.Open(), Detail: p.HasRole(httpapi.RoleOfficer) || p.HasRole(httpapi.RoleAuditor),
		Audit: p.HasRole(httpapi.RoleAuditor), Fund: r.PathValue("fund_id")}
	if zone != nil {
		pg.Zone = zone.String()
	}
	pg.Title = pg.T[title]
	if pg.Title == "" {
		pg.Title = title
	}
	if !p.Open() {
		pg.Who, pg.Roles = p.Sub, strings.Join(p.Roles, ", ")
	}
	q := r.URL.Query()
	q.Set("lang", map[string]string{"zh": "en", "en": "zh"}[lang])
	pg.OtherURL = r.URL.Path + "?" + q.Encode()
	return pg
}

// language is the page's language: ?lang= (remembered in a cookie), else
// the cookie, else Chinese.
func language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "zh" || l == "en" {
		http.SetCookie(w, &http.Cookie{Name: "fundledger_lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return l
	}
	if ck, err := r.Cookie("fundledger_lang"); err == nil && (ck.Value == "zh" || ck.Value == "en") {
		return ck.Value
	}
	return "zh"
}

// render writes a page whole, or a 500 when its template fails (nothing
// half-written).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, pg *page) {
	var b bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&b, "layout", pg); err != nil {
		c.log.Error("console: template", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error: the page could not be drawn; see the service log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	securityHeaders(h)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Authorization, Cookie")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// securityHeaders: scripts and styles only from the console itself, no
// framing, no referrer (paths hold fund and beneficiary ids).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// fail answers a read that failed: 404 and 400 as the API would, as a
// page; anything else a 500 with the cause logged, not shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, ""
	switch {
	case ledger.KindOf(err) == ledger.KindNotFound:
		status, msg = http.StatusNotFound, err.Error()
	case ledger.KindOf(err) == ledger.KindInvalid:
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, context.Canceled) || r.Context().Err() != nil:
		status = http.StatusServiceUnavailable
	default:
		c.log.Error("console", "path", r.URL.Path, "err", err)
	}
	c.errorPage(w, r, status, msg)
}

// badParam answers a query parameter that cannot be read (400), or a
// setting of the service that is wrong (500).
func (c *Console) badParam(w http.ResponseWriter, r *http.Request, err error) {
	if httpapi.IsConfigError(err) {
		c.fail(w, r, err)
		return
	}
	c.errorPage(w, r, http.StatusBadRequest, err.Error())
}

type errorData struct {
	Status  int
	Message string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pg := c.newPage(w, r, "error")
	pg.Data = errorData{status, msg}
	c.render(w, r, status, "error", pg)
}

// ---- Funds ----

type fundsData struct {
	Funds []postgres.FundSummary
	Chart *chart
	Table *flowTable
}

// Funds is GET /: every fund within the token's funds with its cash,
// grants payable and available, and available at each month's end.
func (c *Console) Funds(w http.ResponseWriter, r *http.Request) {
	all, err := c.store.ListFunds(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := httpapi.PrincipalOf(r)
	var list []postgres.FundSummary
	for _, f := range all {
		if p.SeesFund(f.FundID) {
			list = append(list, f)
		}
	}
	pg := c.newPage(w, r, "funds")
	d := fundsData{Funds: list}
	series := map[string][]MonthPoint{}
	for _, f := range list {
		pts, err := c.monthly(r.Context(), f)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		series[f.FundID] = pts
	}
	d.Chart, d.Table = availableChart(pg.T, list, series)
	pg.Data = d
	c.render(w, r, http.StatusOK, "funds", pg)
}

// ---- A fund ----

type fundData struct {
	Fund     *postgres.FundDetail
	Balances *postgres.Balances
	Chart    *chart
	Months   []MonthPoint
	Snapshot *snapshotCheck
}

// Fund is GET /funds/{fund_id}: the fund's accounts, programs and caps,
// money in and out per month, and its latest snapshot with the signature
// checked against the ledger's signing keys.
func (c *Console) Fund(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	// The find forms: a grant or a beneficiary by its id, straight to its
	// page (which runs its own access check).
	if g := strings.TrimSpace(r.URL.Query().Get("find_grant")); g != "" {
		http.Redirect(w, r, "/funds/"+url.PathEscape(id)+"/grants/"+url.PathEscape(g), http.StatusSeeOther)
		return
	}
	if b := strings.TrimSpace(r.URL.Query().Get("find_beneficiary")); b != "" {
		http.Redirect(w, r, "/funds/"+url.PathEscape(id)+"/beneficiaries/"+url.PathEscape(b), http.StatusSeeOther)
		return
	}
	f, err := c.store.FundDetail(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	b, err := c.store.FundBalances(r.Context(), id, nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	pts, err := c.monthly(r.Context(), f.FundSummary)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	pg := c.newPage(w, r, "fund")
	pg.Title = f.Name
	d := fundData{Fund: f, Balances: b, Months: pts, Chart: flowChart(pg.T, pts)}
	body, err := c.store.Snapshot(r.Context(), id, 0)
	switch {
	case ledger.KindOf(err) == ledger.KindNotFound:
	case err != nil:
		c.fail(w, r, err)
		return
	default:
		d.Snapshot, err = c.checkSnapshot(r.Context(), body)
		if err != nil {
			c.fail(w, r, err)
			return
		}
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "fund", pg)
}

// snapshotCheck is a stored snapshot and what checking its signature
// against the keys of GET /v1/keys found.
type snapshotCheck struct {
	ledger.Snapshot
	Valid  bool
	Reason string // why not, in the words of messages: key_unknown, sig_bad, unsigned
}

// checkSnapshot checks a published snapshot's Ed25519 signature over its
// signing input (docs/audit.md) with the key its key_id names among the
// ledger's signing keys, as an auditor would with /v1/keys.
func (c *Console) checkSnapshot(ctx context.Context, body []byte) (*snapshotCheck, error) {
	keys, err := c.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	return checkSnapshotWith(body, keys)
}

// checkSnapshotWith is checkSnapshot with the signing keys already read
// (a page of snapshots reads them once).
func checkSnapshotWith(body []byte, keys map[string]ed25519.PublicKey) (*snapshotCheck, error) {
	var s ledger.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("stored snapshot does not decode: %w", err)
	}
	out := &snapshotCheck{Snapshot: s}
	sig, derr := base64.StdEncoding.DecodeString(s.Signature)
	pub, known := keys[s.KeyID]
	switch {
	case s.Signature == "" || s.KeyID == "":
		out.Reason = "sig_unsigned"
	case !known || len(pub) != ed25519.PublicKeySize:
		out.Reason = "sig_key_unknown"
	case derr != nil || !ed25519.Verify(pub, ledger.SnapshotSigningInput(&s), sig):
		out.Reason = "sig_bad"
	default:
		out.Valid = true
	}
	return out, nil
}

// ---- Journal ----

type journalData struct {
	Fund     postgres.FundSummary
	Filter   journalForm
	Txns     []txnView
	Limit    int
	After    int64
	NextURL  string
	FirstURL string
	LastURL  string
	Types    []string
	Export   string
}

type journalForm struct {
	Type, From, To, Program, GrantID, BeneficiaryRef, BankRef string
}

func (f journalForm) empty() bool { return f == journalForm{} }

type txnView struct {
	*ledger.Txn
	Refs     []ledger.Ref
	GrantID  string
	BenRef   string
	HashHex  string
	PrevHex  string
	Postings []postingView
}

type postingView struct {
	Account string
	Debit   string
	Credit  string
}

// Journal is GET /funds/{fund_id}/journal: the journal filtered as
// section 7 filters it, oldest first, paged by keyset (after_seq).
func (c *Console) Journal(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	after, limit, err := paging(r, "after_seq")
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	filter, err := httpapi.JournalFilterOf(r)
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	jp, err := c.store.JournalFiltered(r.Context(), id, after, limit, filter)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	d := journalData{Fund: f, Limit: limit, After: after, Types: eventTypes,
		Filter: journalForm{Type: q.Get("type"), From: q.Get("from"), To: q.Get("to"), Program: q.Get("program"),
			GrantID: q.Get("grant_id"), BeneficiaryRef: q.Get("beneficiary_ref"), BankRef: q.Get("bank_ref")}}
	for _, t := range jp.Transactions {
		d.Txns = append(d.Txns, newTxnView(t))
	}
	link := func(after int64) string {
		q := r.URL.Query()
		q.Del("lang")
		q.Set("after_seq", strconv.FormatInt(after, 10))
		if after == 0 {
			q.Del("after_seq")
		}
		return r.URL.Path + "?" + q.Encode()
	}
	if len(jp.Transactions) == limit {
		d.NextURL = link(jp.NextAfterSeq)
	}
	if after > 0 {
		d.FirstURL = link(0)
	}
	if d.Filter.empty() && f.HeadSeq-int64(limit) > after {
		d.LastURL = link(f.HeadSeq - int64(limit))
	}
	pg := c.newPage(w, r, "journal")
	pg.Data = d
	c.render(w, r, http.StatusOK, "journal", pg)
}

func newTxnView(t *ledger.Txn) txnView {
	v := txnView{Txn: t, HashHex: fmt.Sprintf("%x", t.Hash), PrevHex: fmt.Sprintf("%x", t.PrevHash)}
	for _, ref := range t.Refs {
		switch ref.Key {
		case "grant_id":
			v.GrantID = ref.Value
		case "beneficiary_ref":
			v.BenRef = ref.Value
		}
		v.Refs = append(v.Refs, ref)
	}
	for _, p := range t.Postings {
		pv := postingView{Account: p.Account}
		if p.Side == ledger.Debit {
			pv.Debit = ledger.Money(p.Amount)
		} else {
			pv.Credit = ledger.Money(p.Amount)
		}
		v.Postings = append(v.Postings, pv)
	}
	return v
}

// paging reads a keyset cursor (0 or more) and limit (1 to
// postgres.MaxLimit, PageLimit when absent).
func paging(r *http.Request, cursor string) (int64, int, error) {
	q := r.URL.Query()
	var after int64
	if s := q.Get(cursor); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%s %q is not a whole number of 0 or more", cursor, s)
		}
		after = n
	}
	limit := PageLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > postgres.MaxLimit {
			return 0, 0, fmt.Errorf("limit %q is not a whole number from 1 to %d", s, postgres.MaxLimit)
		}
		limit = n
	}
	return after, limit, nil
}

// ---- A grant ----

type grantData struct {
	Grant    *postgres.Grant
	Timeline []timelineStep
}

type timelineStep struct {
	postgres.GrantEvent
	Who []ledger.Ref // the people and reasons the journal recorded
}

// Grant is GET /funds/{fund_id}/grants/{grant_id}: the grant's whole life
// as a timeline, with who did what from its journal transactions.
func (c *Console) Grant(w http.ResponseWriter, r *http.Request) {
	id, gid := r.PathValue("fund_id"), r.PathValue("grant_id")
	g, err := c.store.Grant(r.Context(), id, gid)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	refs := map[int64][]ledger.Ref{}
	after := int64(0)
	for {
		jp, err := c.store.JournalFiltered(r.Context(), id, after, postgres.MaxLimit, postgres.JournalFilter{GrantID: gid})
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, t := range jp.Transactions {
			for _, ref := range t.Refs {
				if strings.HasSuffix(ref.Key, "_by") || strings.HasSuffix(ref.Key, "_on") || ref.Key == "reason" || ref.Key == "bank_ref" {
					refs[t.Seq] = append(refs[t.Seq], ref)
				}
			}
		}
		if len(jp.Transactions) < postgres.MaxLimit {
			break
		}
		after = jp.NextAfterSeq
	}
	d := grantData{Grant: g}
	for _, ev := range g.History {
		st := timelineStep{GrantEvent: ev}
		if ev.JournalSeq != nil {
			st.Who = refs[*ev.JournalSeq]
		}
		d.Timeline = append(d.Timeline, st)
	}
	pg := c.newPage(w, r, "grant")
	pg.Title = pg.T["grant"] + " " + gid
	pg.Data = d
	c.render(w, r, http.StatusOK, "grant", pg)
}

// ---- A beneficiary ----

type beneficiaryData struct {
	B     *postgres.Beneficiary
	Usage []usageView
}

type usageView struct {
	postgres.BeneficiaryUsage
	Percent int // used of cap, 0 to 100 (for the meter); -1 without a cap
}

// Beneficiary is GET /funds/{fund_id}/beneficiaries/{beneficiary_ref}:
// usage per program and year against the cap, and the grants.
func (c *Console) Beneficiary(w http.ResponseWriter, r *http.Request) {
	b, err := c.store.Beneficiary(r.Context(), r.PathValue("fund_id"), r.PathValue("beneficiary_ref"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := beneficiaryData{B: b}
	for _, u := range b.Usage {
		uv := usageView{BeneficiaryUsage: u, Percent: -1}
		if u.Cap != nil && u.Cap.Dec().IsPositive() {
			pct := u.Used.Dec().Mul(decimal.NewFromInt(100)).Div(u.Cap.Dec()).IntPart()
			uv.Percent = int(min(max(pct, 0), 100))
		}
		d.Usage = append(d.Usage, uv)
	}
	pg := c.newPage(w, r, "beneficiary")
	pg.Title = pg.T["beneficiary"] + " " + b.BeneficiaryRef
	pg.Data = d
	c.render(w, r, http.StatusOK, "beneficiary", pg)
}

// ---- Snapshots ----

type snapshotsData struct {
	Fund    postgres.FundSummary
	List    []snapshotRow
	NextURL string
}

type snapshotRow struct {
	postgres.SnapshotInfo
	Check *snapshotCheck
}

// Snapshots is GET /funds/{fund_id}/snapshots: the fund's snapshots,
// oldest first, each with its signature checked.
func (c *Console) Snapshots(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	after, limit, err := paging(r, "after")
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sp, err := c.store.Snapshots(r.Context(), id, after, limit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := snapshotsData{Fund: f}
	bodies, err := c.store.SnapshotBodies(r.Context(), id, after, len(sp.Snapshots))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	keys, err := c.store.SigningKeys(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for i, s := range sp.Snapshots {
		if i >= len(bodies) {
			c.fail(w, r, fmt.Errorf("snapshot %d of fund %q has no published body", s.SnapshotSeq, id))
			return
		}
		chk, err := checkSnapshotWith(bodies[i], keys)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.List = append(d.List, snapshotRow{SnapshotInfo: s, Check: chk})
	}
	if len(sp.Snapshots) == limit {
		d.NextURL = fmt.Sprintf("%s?after=%d&limit=%d", r.URL.Path, sp.NextAfter, limit)
	}
	pg := c.newPage(w, r, "snapshots")
	pg.Data = d
	c.render(w, r, http.StatusOK, "snapshots", pg)
}

// ---- Verify ----

type verifyData struct {
	Fund   postgres.FundSummary
	Report ledger.VerifyReport
	Took   time.Duration
}

// verifySlots bounds the verifications the console runs at once, as the
// API bounds its own: each reads a fund's whole journal.
var verifySlots = make(chan struct{}, 1)

// Verify is GET /funds/{fund_id}/verify (auditors): recomputes the fund's
// chain and balances from its journal and checks its snapshots, as
// `fundledger verify` and GET /v1/funds/{fund_id}/verify do.
func (c *Console) Verify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	select {
	case verifySlots <- struct{}{}:
		defer func() { <-verifySlots }()
	case <-r.Context().Done():
		c.fail(w, r, r.Context().Err())
		return
	}
	start := time.Now()
	rep, err := c.store.Verify(r.Context(), id, nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	pg := c.newPage(w, r, "verify")
	pg.Data = verifyData{Fund: f, Report: rep, Took: time.Since(start).Round(time.Millisecond)}
	c.render(w, r, http.StatusOK, "verify", pg)
}

// ---- Rejections ----

type rejectionsData struct {
	Filter  rejectionForm
	Funds   []postgres.FundSummary
	Codes   []string
	Types   []string
	List    []rejectionView
	NextURL string
	Raw     bool
}

type rejectionForm struct {
	FundID, Code, Type, From, To string
}

type rejectionView struct {
	postgres.RejectionView
	Pretty string // the raw event, indented when it is JSON (auditors)
}

// Rejections is GET /rejections: refused events within the token's funds,
// filtered by fund, code, type and time, each with its reason in words,
// the lines of a refused batch, and (auditors) the raw event.
func (c *Console) Rejections(w http.ResponseWriter, r *http.Request) {
	after, limit, err := paging(r, "after")
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	f, err := httpapi.RejectionFilterOf(r)
	if err != nil {
		c.badParam(w, r, err)
		return
	}
	p := httpapi.PrincipalOf(r)
	rp, err := httpapi.ScopedRejections(p, f.FundID, after, limit,
		func(fundID string, after int64, limit int) (*postgres.RejectionPage, error) {
			f.FundID = fundID
			return c.store.RejectionsFiltered(r.Context(), f, after, limit)
		})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	all, err := c.store.ListFunds(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	d := rejectionsData{Codes: rejectionCodes, Types: eventTypes, Raw: httpapi.SeesRaw(p),
		Filter: rejectionForm{FundID: q.Get("fund_id"), Code: q.Get("code"), Type: q.Get("type"), From: q.Get("from"), To: q.Get("to")}}
	for _, fs := range all {
		if p.SeesFund(fs.FundID) {
			d.Funds = append(d.Funds, fs)
		}
	}
	for _, rj := range rp.Rejections {
		v := rejectionView{RejectionView: rj}
		if d.Raw {
			v.Pretty = prettyRaw(rj.Raw, rj.RawEncoding)
		} else {
			v.Raw, v.RawHeaders = "", nil
		}
		d.List = append(d.List, v)
	}
	if len(rp.Rejections) == limit {
		q.Del("lang")
		q.Set("after", strconv.FormatInt(rp.NextAfter, 10))
		d.NextURL = r.URL.Path + "?" + q.Encode()
	}
	pg := c.newPage(w, r, "rejections")
	pg.Data = d
	c.render(w, r, http.StatusOK, "rejections", pg)
}

// prettyRaw indents a raw event that is JSON; anything else is shown as
// received (base64 stays base64).
func prettyRaw(raw, encoding string) string {
	if encoding == "utf-8" && json.Valid([]byte(raw)) {
		var b bytes.Buffer
		if json.Indent(&b, []byte(raw), "", "  ") == nil {
			return b.String()
		}
	}
	return raw
}

// ---- Assets ----

var assetTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

// assetFiles maps the names served under /assets/ to the embedded files.
var assetFiles = map[string]string{
	"console.css":    "static/console.css",
	"console.js":     "static/console.js",
	"htmx.min.js":    "static/vendor/htmx.min.js",
	"echarts.min.js": "static/vendor/echarts.min.js",
}

// Asset is GET /assets/{file}: the console's own CSS and script and the
// vendored libraries, embedded in the binary.
func (c *Console) Asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	file, ok := assetFiles[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(staticFS, file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", assetTypes[path.Ext(name)])
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, buildTime, bytes.NewReader(b))
}

var buildTime = time.Now()

// ---- Monthly flows ----

// MonthPoint is one business month of a fund (postgres.MonthFlow): money
// in and out of cash, and the available amount at the month's end.
type MonthPoint struct {
	Month     string
	In, Out   decimal.Decimal
	Available decimal.Decimal
}

// flowCache keeps each fund's monthly sums up to the sequence read: the
// journal is append-only, so a later page load reads only what was posted
// since (a million-transaction fund is summed once per process).
type flowCache struct {
	mu    sync.Mutex
	funds map[string]*fundFlows
}

type fundFlows struct {
	zone   string
	upTo   int64
	months []postgres.MonthFlow
}

func (c *Console) monthly(ctx context.Context, f postgres.FundSummary) ([]MonthPoint, error) {
	loc, err := httpapi.Zone()
	if err != nil {
		return nil, err
	}
	c.flows.mu.Lock()
	if c.flows.funds == nil {
		c.flows.funds = map[string]*fundFlows{}
	}
	ff := c.flows.funds[f.FundID]
	if ff == nil || ff.zone != loc.String() || ff.upTo > f.HeadSeq {
		ff = &fundFlows{zone: loc.String()}
	}
	from := ff.upTo
	prev := slices.Clone(ff.months)
	c.flows.mu.Unlock()
	if from < f.HeadSeq {
		more, err := c.store.MonthlyFlows(ctx, f.FundID, from, f.HeadSeq, loc)
		if err != nil {
			return nil, err
		}
		for _, m := range more {
			i, found := slices.BinarySearchFunc(prev, m.Month, func(x postgres.MonthFlow, month string) int { return strings.Compare(x.Month, month) })
			if found {
				cur := &prev[i]
				cur.CashIn, cur.CashOut = cur.CashIn.Add(m.CashIn), cur.CashOut.Add(m.CashOut)
				cur.PayableUp, cur.PayableDown = cur.PayableUp.Add(m.PayableUp), cur.PayableDown.Add(m.PayableDown)
				cur.LastSeq = max(cur.LastSeq, m.LastSeq)
				continue
			}
			prev = slices.Insert(prev, i, m)
		}
		c.flows.mu.Lock()
		if cur := c.flows.funds[f.FundID]; cur == nil || cur.upTo < f.HeadSeq {
			c.flows.funds[f.FundID] = &fundFlows{zone: loc.String(), upTo: f.HeadSeq, months: prev}
		}
		c.flows.mu.Unlock()
	}
	var out []MonthPoint
	var avail decimal.Decimal
	for _, m := range prev {
		avail = avail.Add(m.CashIn).Sub(m.CashOut).Sub(m.PayableUp).Add(m.PayableDown)
		out = append(out, MonthPoint{Month: m.Month, In: m.CashIn, Out: m.CashOut, Available: avail})
	}
	return out, nil
}

// ---- Charts ----

// chart is an ECharts option as JSON, drawn by static/console.js, with the
// label a screen reader hears.
type chart struct {
	ID     string
	Label  string
	Option template.JS
}

// flowTable is a chart's data as a table: rows of a month and a value
// per column.
type flowTable struct {
	Columns []string
	Rows    []flowRow
}

type flowRow struct {
	Month  string
	Values []string
}

// num is a decimal written into chart JSON as the exact number it is.
func num(d decimal.Decimal) json.Number { return json.Number(d.StringFixed(2)) }

func availableChart(t map[string]string, funds []postgres.FundSummary, series map[string][]MonthPoint) (*chart, *flowTable) {
	monthSet := map[string]bool{}
	for _, pts := range series {
		for _, p := range pts {
			monthSet[p.Month] = true
		}
	}
	months := make([]string, 0, len(monthSet))
	for m := range monthSet {
		months = append(months, m)
	}
	sort.Strings(months)
	tbl := &flowTable{}
	var ss []map[string]any
	for _, f := range funds {
		tbl.Columns = append(tbl.Columns, f.Name)
		byMonth := map[string]decimal.Decimal{}
		for _, p := range series[f.FundID] {
			byMonth[p.Month] = p.Available
		}
		data := make([]any, len(months))
		var last *decimal.Decimal
		for i, m := range months {
			if v, ok := byMonth[m]; ok {
				last = &v
			}
			if last != nil {
				data[i] = num(*last)
			}
		}
		ss = append(ss, map[string]any{"name": f.Name, "type": "line", "step": "end", "data": data})
	}
	for i, m := range months {
		row := flowRow{Month: m}
		for _, s := range ss {
			v := s["data"].([]any)[i]
			if v == nil {
				row.Values = append(row.Values, "")
			} else {
				row.Values = append(row.Values, groupDigits(string(v.(json.Number))))
			}
		}
		tbl.Rows = append(tbl.Rows, row)
	}
	opt := map[string]any{
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"top": 0},
		"grid":    map[string]any{"left": 90, "right": 20, "top": 40, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": months},
		"yAxis":   map[string]any{"type": "value", "name": t["available"]},
		"series":  ss,
	}
	return &chart{ID: "chart-available", Label: t["chart_available"], Option: mustJS(opt)}, tbl
}

func flowChart(t map[string]string, pts []MonthPoint) *chart {
	var months []string
	var in, out, avail []any
	for _, p := range pts {
		months = append(months, p.Month)
		in, out, avail = append(in, num(p.In)), append(out, num(p.Out)), append(avail, num(p.Available))
	}
	opt := map[string]any{
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"top": 0},
		"grid":    map[string]any{"left": 90, "right": 20, "top": 40, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": months},
		"yAxis":   map[string]any{"type": "value"},
		"series": []map[string]any{
			{"name": t["money_in"], "type": "bar", "data": in, "itemStyle": map[string]any{"color": "#1a7f37"}},
			{"name": t["money_out"], "type": "bar", "data": out, "itemStyle": map[string]any{"color": "#b42318"}},
			{"name": t["available"], "type": "line", "data": avail, "itemStyle": map[string]any{"color": "#1f4e99"}},
		},
	}
	return &chart{ID: "chart-flows", Label: t["chart_flows"], Option: mustJS(opt)}
}

func mustJS(v any) template.JS {
	b, err := json.Marshal(v)
	if err != nil {
		panic("console: chart option does not encode: " + err.Error())
	}
	return template.JS(b)
}

// ---- Formatting ----

var funcs = template.FuncMap{
	"money":   money,
	"when":    when,
	"day":     day,
	"short":   func(s string) string { return shorten(s, 12) },
	"reason":  func(t map[string]string, code any) string { return t["code_"+fmt.Sprint(code)] },
	"label":   label,
	"qs":      func(kv ...string) template.URL { return template.URL(queryString(kv...)) },
	"deref":   func(p *int64) int64 { return *p },
	"pathEsc": url.PathEscape,
	"add":     func(a, b int) int { return a + b },
}

// label is the word for key in t, or key itself when t has none (an event
// type or account the console has no word for).
func label(t map[string]string, prefix string, key any) string {
	k := fmt.Sprint(key)
	if v, ok := t[prefix+k]; ok {
		return v
	}
	if prefix == "acct_" {
		if base, prog, ok := strings.Cut(k, ":"); ok {
			if v, ok := t["acct_"+base+":"]; ok {
				return v + prog
			}
		}
	}
	return k
}

func queryString(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q.Encode()
}

// money writes an amount with grouped thousands and two places:
// 1,234,567.89. Text in, text out: no float.
func money(v any) string {
	var s string
	switch x := v.(type) {
	case postgres.Amount:
		s = x.String()
	case *postgres.Amount:
		if x == nil {
			return ""
		}
		s = x.String()
	case decimal.Decimal:
		s = ledger.Money(x)
	case string:
		if x == "" {
			return ""
		}
		d, err := decimal.NewFromString(x)
		if err != nil {
			return x
		}
		s = ledger.Money(d)
	default:
		return fmt.Sprint(v)
	}
	return groupDigits(s)
}

// groupDigits puts a comma between each three integer digits.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, frac, hasDot := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasDot {
		b.WriteString("." + frac)
	}
	return b.String()
}

// when writes a time (a time.Time or RFC 3339 text) in FUNDLEDGER_TZ as
// 2026-03-02 09:15:00.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		p, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return x
		}
		t = p
	default:
		return fmt.Sprint(v)
	}
	if loc, err := httpapi.Zone(); err == nil {
		t = t.In(loc)
	}
	return t.Format(time.DateTime)
}

// day is the date part of when.
func day(v any) string {
	s := when(v)
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ---- Bank reconciliation (CONTRACT.md section 10) ----

type reconData struct {
	Fund       postgres.FundSummary
	Latest     *ledger.Reconciliation
	Reports    []postgres.ReconciliationInfo
	Statements []postgres.BankStatementInfo
}

// Reconciliations is GET /funds/{fund_id}/reconciliations: the latest bank
// reconciliation statement (bank and book balances, what is unmatched on
// either side, the difference), every report, and the bank statements.
func (c *Console) Reconciliations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := reconData{Fund: f}
	body, err := c.store.Reconciliation(r.Context(), id, 0)
	switch {
	case ledger.KindOf(err) == ledger.KindNotFound:
	case err != nil:
		c.fail(w, r, err)
		return
	default:
		d.Latest = &ledger.Reconciliation{}
		if err := json.Unmarshal(body, d.Latest); err != nil {
			c.fail(w, r, fmt.Errorf("stored reconciliation does not decode: %w", err))
			return
		}
	}
	after := int64(0)
	for {
		page, err := c.store.Reconciliations(r.Context(), id, after, postgres.MaxLimit)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.Reports = append(d.Reports, page.Reconciliations...)
		if len(page.Reconciliations) < postgres.MaxLimit {
			break
		}
		after = page.NextAfter
	}
	slices.Reverse(d.Reports) // newest first
	if d.Statements, err = c.store.BankStatements(r.Context(), id); err != nil {
		c.fail(w, r, err)
		return
	}
	pg := c.newPage(w, r, "reconciliations")
	pg.Data = d
	c.render(w, r, http.StatusOK, "reconciliations", pg)
}

// ---- Periods (CONTRACT.md section 11) ----

type periodsData struct {
	Fund       postgres.FundSummary
	Periods    []postgres.PeriodInfo
	LastClosed string
}

// Periods is GET /funds/{fund_id}/periods: the fund's closed months with
// their reports.
func (c *Console) Periods(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fund_id")
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	list, last, err := c.store.FundPeriods(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	slices.Reverse(list) // newest first
	pg := c.newPage(w, r, "periods")
	pg.Data = periodsData{Fund: f, Periods: list, LastClosed: last}
	c.render(w, r, http.StatusOK, "periods", pg)
}

type periodData struct {
	Fund   postgres.FundSummary
	Report ledger.PeriodReport
}

var periodText = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// Period is GET /funds/{fund_id}/periods/{period}: one month's report:
// accounts from opening to closing, programs, contributions, allocations
// and prior-period adjustments.
func (c *Console) Period(w http.ResponseWriter, r *http.Request) {
	id, period := r.PathValue("fund_id"), r.PathValue("period")
	if !periodText.MatchString(period) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("period %q is not a month (YYYY-MM)", period))
		return
	}
	f, err := c.store.Fund(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	body, err := c.store.PeriodReport(r.Context(), id, period)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := periodData{Fund: f}
	if err := json.Unmarshal(body, &d.Report); err != nil {
		c.fail(w, r, fmt.Errorf("stored period report does not decode: %w", err))
		return
	}
	pg := c.newPage(w, r, "period")
	pg.Title = pg.T["period"] + " " + period
	pg.Data = d
	c.render(w, r, http.StatusOK, "period", pg)
}

type cityFund struct {
	FundID string
	Name   string
	Report *ledger.PeriodReport // nil: closed only by a later first close
}

type cityPeriodData struct {
	View      *ledger.CityPeriod
	Closed    []cityFund
	NotClosed []postgres.FundSummary
}

// CityPeriod is GET /periods/{period}: the city-wide view of one month over
// the token's funds: which funds closed it, the sums of their reports, and
// each fund's closing cash.
func (c *Console) CityPeriod(w http.ResponseWriter, r *http.Request) {
	period := r.PathValue("period")
	if !periodText.MatchString(period) {
		c.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("period %q is not a month (YYYY-MM)", period))
		return
	}
	p := httpapi.PrincipalOf(r)
	v, err := c.store.CityPeriod(r.Context(), period, p.SeesFund)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	all, err := c.store.ListFunds(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	names := map[string]postgres.FundSummary{}
	for _, f := range all {
		names[f.FundID] = f
	}
	d := cityPeriodData{View: v}
	for _, cf := range v.Closed {
		if !p.SeesFund(cf.FundID) { // the store filtered already; never show another's
			continue
		}
		x := cityFund{FundID: cf.FundID, Name: names[cf.FundID].Name}
		if len(cf.Report) > 0 && string(cf.Report) != "null" {
			x.Report = &ledger.PeriodReport{}
			if err := json.Unmarshal(cf.Report, x.Report); err != nil {
				c.fail(w, r, fmt.Errorf("stored period report does not decode: %w", err))
				return
			}
		}
		d.Closed = append(d.Closed, x)
	}
	for _, id := range v.NotClosed {
		if p.SeesFund(id) {
			d.NotClosed = append(d.NotClosed, names[id])
		}
	}
	pg := c.newPage(w, r, "city_period")
	pg.Title = pg.T["city_period"] + " " + period
	pg.Data = d
	c.render(w, r, http.StatusOK, "cityperiod", pg)
}
