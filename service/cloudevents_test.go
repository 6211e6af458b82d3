package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/nats-io/nats.go"
)

// TestCloudEventsSDKEndToEnd drives the ledger as a new user of the
// official CloudEvents Go SDK would: binary content mode (the SDK's
// default) and structured mode, through its NATS JetStream binding. Binary
// events post like structured ones; a binary disbursement that arrives
// before its grant is held and released with its headers; the same event
// re-sent structured under another envelope id is a business-id duplicate;
// a refused binary event keeps its headers beside its raw body.
func TestCloudEventsSDKEndToEnd(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const fund = "jiangjin-care"
	nc, err := nats.Connect(l.NATS.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(ctx context.Context, id, typ string, data any) {
		t.Helper()
		sender, err := cejs.NewSenderFromConn(nc, events.InboundStream, events.InboundSubject(fund, typ), nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cloudevents.NewClient(sender)
		if err != nil {
			t.Fatal(err)
		}
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("approvals/jiangjin")
		e.SetType(typ)
		if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		if res := c.Send(ctx, e); !cloudevents.IsACK(res) {
			t.Fatalf("send %s: %v", id, res)
		}
	}
	structured := cloudevents.WithEncodingStructured(ctx)
	grant := map[string]any{"grant_id": "G-1", "beneficiary_ref": "B-1", "program": "care_fund", "category": "medical",
		"amount": "1250.00", "requested_by": "case-wang", "approved_by": "officer-li", "approved_on": "2026-03-02"}

	send(ctx, "e-open", "fund.opened", map[string]any{"fund_id": fund, "name": "江津区退役军人关爱基金",
		"programs": []any{map[string]any{"code": "care_fund"}}})
	send(structured, "e-money", "contribution.received", map[string]any{"contribution_id": "C-1", "source_kind": "fiscal",
		"payer": "江津区财政局", "amount": "2000000.00", "bank_ref": "BOC-1", "received_on": "2026-01-15"})
	// The payment first: held until the grant arrives, then posted.
	send(ctx, "e-pay", "grant.disbursed", map[string]any{"grant_id": "G-1", "payment_id": "P-1", "amount": "1000.00",
		"bank_ref": "BOC-2", "paid_on": "2026-03-05"})
	l.WaitIdle()
	if got := l.Count(`SELECT count(*) FROM held WHERE event_id = 'e-pay' AND header IS NOT NULL`); got != 1 {
		t.Fatalf("the early binary disbursement is not held with its headers (%d rows)", got)
	}
	send(ctx, "e-grant", "grant.approved", grant)
	send(structured, "e-grant-again", "grant.approved", grant) // same data, another envelope id: a duplicate
	send(ctx, "e-grant", "grant.approved", grant)              // the same envelope id again: a silent no-op
	bad := map[string]any{}
	for k, v := range grant {
		bad[k] = v
	}
	bad["grant_id"], bad["approved_by"] = "G-2", "case-wang"
	send(ctx, "e-bad", "grant.approved", bad)
	l.WaitIdle()

	wantBalances(t, l, fund, map[string]string{"cash": "1999000.00", "grants_payable": "250.00", "grant_expense:care_fund": "1250.00"})
	outcomes := map[string]string{"e-open": "applied", "e-money": "posted", "e-pay": "posted", "e-grant": "posted",
		"e-grant-again": "duplicate", "e-bad": "rejected"}
	for id, want := range outcomes {
		if got := outcome(l, id); got != want {
			t.Errorf("%s: outcome %q, want %q", id, got, want)
		}
	}
	rejs := l.Rejections()
	if len(rejs) != 1 || rejs[0].EventID != "e-bad" || rejs[0].Code != string(events.SameMakerChecker) {
		t.Fatalf("rejections = %+v, want e-bad same_maker_checker only", rejs)
	}
	msgs := outMessages(t, l, events.RejectedSubject(fund))
	if len(msgs) != 1 {
		t.Fatalf("%d rejected messages, want 1", len(msgs))
	}
	var v events.RejectionView
	if err := json.Unmarshal(msgs[0].Data(), &v); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(v.Raw), &body); err != nil || body["grant_id"] != "G-2" {
		t.Fatalf("raw of a binary rejection is not its body: %q (%v)", v.Raw, err)
	}
	if id := headerValue(v.RawHeaders, "ce-id"); id != "e-bad" {
		t.Fatalf("raw_headers = %v, want the ce- headers beside the body", v.RawHeaders)
	}
}

func headerValue(h map[string][]string, name string) string {
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}
