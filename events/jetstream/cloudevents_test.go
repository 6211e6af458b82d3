package jetstream_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/fundledger/fundledger/events"
	fjs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/events/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const ceFund = "jiangjin-care"

// ceData is the data of one valid event of each type the test sends.
var ceData = map[string]map[string]any{
	events.TypeFundOpened: {
		"fund_id": ceFund, "name": "江津区关爱基金", "currency": "CNY",
		"programs": []any{map[string]any{"code": "care_fund", "annual_cap_per_beneficiary": "20000.00"}, map[string]any{"code": "medical_aid"}},
	},
	events.TypeContributionReceived: {
		"contribution_id": "C-1", "source_kind": "fiscal", "payer": "江津区财政局", "amount": "2000000.00",
		"bank_ref": "BOC-1", "received_on": "2026-01-15",
	},
	events.TypeGrantApproved: {
		"grant_id": "G-1", "beneficiary_ref": "B-1", "program": "care_fund", "category": "medical", "amount": "1250.00",
		"requested_by": "case-wang", "approved_by": "officer-li", "approved_on": "2026-03-02",
	},
	events.TypeGrantBatchApproved: {
		"batch_id": "BATCH-1", "program": "care_fund", "requested_by": "case-wang", "approved_by": "officer-li", "approved_on": "2026-03-01",
		"lines": []any{
			map[string]any{"grant_id": "P-1", "beneficiary_ref": "B-1", "category": "living", "amount": "1500.00"},
			map[string]any{"grant_id": "P-2", "beneficiary_ref": "B-2", "category": "living", "amount": "1.000"}, // refused line
		},
	},
	events.TypeSnapshotRequested: {"requested_by": "auditor-chen", "label": "2026-06"},
}

// TestCloudEventsSDK publishes events through the official CloudEvents Go
// SDK and its NATS JetStream binding, in binary content mode (its default)
// and in structured mode, next to the structured JSON the project's own
// publishers send, consumes all of them with the ledger's consumer and
// checks that each event decodes the same way in all three forms, with the
// same DataHash (so the same event under two envelope ids is a business-id
// duplicate, not duplicate_id). Then a few bad binary messages, from the
// SDK and from a hand-written publisher, get their codes.
func TestCloudEventsSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := natsembed.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := fjs.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}

	// One SDK client per subject: the binding sends on a fixed subject.
	clients := map[string]cloudevents.Client{}
	client := func(typ string) cloudevents.Client {
		if c, ok := clients[typ]; ok {
			return c
		}
		sender, err := cejs.NewSenderFromConn(nc, events.InboundStream, events.InboundSubject(ceFund, typ), nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cloudevents.NewClient(sender)
		if err != nil {
			t.Fatal(err)
		}
		clients[typ] = c
		return c
	}
	when := time.Date(2026, 3, 2, 9, 15, 0, 123456789, time.FixedZone("CST", 8*3600))
	sdkSend := func(ctx context.Context, id, typ, contentType string, data any) {
		t.Helper()
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("approvals/jiangjin")
		e.SetType(typ)
		e.SetTime(when)
		if data != nil {
			if err := e.SetData(contentType, data); err != nil {
				t.Fatal(err)
			}
		}
		if res := client(typ).Send(ctx, e); !cloudevents.IsACK(res) {
			t.Fatalf("send %s: %v", id, res)
		}
	}

	var sent []string
	for typ, data := range ceData {
		sdkSend(ctx, "bin-"+typ, typ, cloudevents.ApplicationJSON, data)
		sdkSend(cloudevents.WithEncodingStructured(ctx), "str-"+typ, typ, cloudevents.ApplicationJSON, data)
		raw, err := json.Marshal(map[string]any{
			"specversion": "1.0", "id": "raw-" + typ, "source": "approvals/jiangjin", "type": typ,
			"time": "2026-03-02T09:15:00+08:00", "datacontenttype": "application/json", "data": data,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, events.InboundSubject(ceFund, typ), raw, jetstream.WithMsgID("raw-"+typ)); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, "bin-"+typ, "str-"+typ, "raw-"+typ)
	}

	// Bad binary messages: what the SDK lets through, then what another
	// publisher might write by hand.
	amountNumber := map[string]any{}
	for k, v := range ceData[events.TypeGrantApproved] {
		amountNumber[k] = v
	}
	amountNumber["amount"] = 1250
	sdkSend(ctx, "bad-text", events.TypeGrantApproved, "text/plain", "hello")
	sdkSend(ctx, "bad-nodata", events.TypeGrantApproved, "", nil)
	sdkSend(ctx, "bad-amount", events.TypeGrantApproved, cloudevents.ApplicationJSON, amountNumber)
	sdkSend(ctx, "bad-type", "grant.rejected", cloudevents.ApplicationJSON, ceData[events.TypeGrantApproved])
	sdkSend(ctx, "bad-xml", events.TypeGrantApproved, "application/xml", []byte(`{"grant_id":"G-1"}`))
	hand := func(id string, h nats.Header, body string) {
		t.Helper()
		m := nats.NewMsg(events.InboundSubject(ceFund, events.TypeGrantApproved))
		m.Header = h
		m.Data = []byte(body)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
	}
	good, _ := json.Marshal(ceData[events.TypeGrantApproved])
	base := func(id string) nats.Header {
		return nats.Header{"CE-SpecVersion": {"1.0"}, "CE-ID": {id}, "CE-Source": {"hand"}, "CE-Type": {events.TypeGrantApproved},
			"Content-Type": {"application/json"}, "Nats-Msg-Id": {id}}
	}
	hand("hand-ok", base("hand-ok"), string(good))
	h := base("hand-twice")
	h["ce-type"] = []string{events.TypeGrantDisbursed}
	hand("hand-twice", h, string(good))
	hand("hand-dupkey", base("hand-dupkey"), strings.Replace(string(good), `"amount":"1250.00"`, `"amount":"1.00","amount":"1250.00"`, 1))
	hand("hand-array", base("hand-array"), `[`+string(good)+`]`)
	sent = append(sent, "bad-text", "bad-nodata", "bad-amount", "bad-type", "bad-xml")

	cons, err := fjs.StartConsumer(ctx, js, "cloudevents-test", 0, fjs.ConsumerOptions{AckWait: 30 * time.Second, MaxAckPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	got := map[string]events.Decoded{}
	headers := map[string]map[string][]string{}
	for len(got) < len(sent) && ctx.Err() == nil {
		b, err := cons.Next(ctx, 100, 1<<20, 2*time.Second, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range b.Messages {
			d := events.DecodeMessage(m)
			if d.ID == "" {
				t.Fatalf("a message without a readable id: %v (headers %v)", d.Rejection, m.Header)
			}
			got[d.ID] = d
			headers[d.ID] = m.Header
		}
		if err := b.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("received %d of %d messages", len(got), len(sent))
	}

	for typ := range ceData {
		bin, str, raw := got["bin-"+typ], got["str-"+typ], got["raw-"+typ]
		if !hasHeader(headers["bin-"+typ], "ce-specversion") || hasHeader(headers["str-"+typ], "ce-specversion") {
			t.Fatalf("%s: the SDK did not send binary and structured as expected: %v / %v", typ, headers["bin-"+typ], headers["str-"+typ])
		}
		for name, d := range map[string]events.Decoded{"binary": bin, "sdk structured": str, "structured": raw} {
			if d.Rejection != nil || d.Event == nil || d.Type != typ || d.FundID != ceFund {
				t.Fatalf("%s %s: type %q fund %q, %v", name, typ, d.Type, d.FundID, d.Rejection)
			}
			if !reflect.DeepEqual(d.Event, raw.Event) {
				t.Fatalf("%s %s decodes to\n%+v\nthe structured JSON to\n%+v", name, typ, d.Event, raw.Event)
			}
			if d.DataHash != raw.DataHash || d.DataHash == ([32]byte{}) {
				t.Fatalf("%s %s: DataHash %x, structured %x", name, typ, d.DataHash, raw.DataHash)
			}
			if d.Envelope.Source != "approvals/jiangjin" || d.Envelope.SpecVersion != "1.0" {
				t.Fatalf("%s %s: envelope %+v", name, typ, d.Envelope)
			}
		}
		if bin.Envelope.Time != when.Format(time.RFC3339Nano) || bin.Envelope.DataContentType != cloudevents.ApplicationJSON {
			t.Fatalf("binary %s: time %q, content type %q", typ, bin.Envelope.Time, bin.Envelope.DataContentType)
		}
	}
	batch := got["bin-"+events.TypeGrantBatchApproved].Event.(events.GrantBatchApproved)
	if len(batch.Lines) != 2 || batch.Lines[0].Refused != nil || batch.Lines[1].Refused == nil || batch.Lines[1].Refused.Code != events.InvalidAmount {
		t.Fatalf("binary batch lines %+v", batch.Lines)
	}

	for id, want := range map[string]events.Code{
		"bad-text":    events.Malformed,     // body "hello" is not JSON
		"bad-nodata":  events.MissingField,  // no body: data is missing
		"bad-amount":  events.InvalidAmount, // amount a JSON number
		"bad-type":    events.UnsupportedType,
		"bad-xml":     events.InvalidField, // ce-datacontenttype application/xml
		"hand-ok":     "",
		"hand-twice":  events.InvalidField, // CE-Type and ce-type differ
		"hand-dupkey": events.Malformed,
		"hand-array":  events.InvalidField, // data is not an object
	} {
		d := got[id]
		var code events.Code
		if d.Rejection != nil {
			code = d.Rejection.Code
		}
		if code != want {
			t.Errorf("%s: code %q, want %q (%v)", id, code, want, d.Rejection)
		}
		t.Logf("%s: headers %v: %v", id, headers[id], d.Rejection)
		if d.ID != id || d.FundID != ceFund {
			t.Errorf("%s: id %q, fund %q", id, d.ID, d.FundID)
		}
	}
	if hand, raw := got["hand-ok"], got["raw-"+events.TypeGrantApproved]; hand.DataHash != raw.DataHash || !reflect.DeepEqual(hand.Event, raw.Event) {
		t.Fatal("the hand-written binary event differs from the structured one")
	}
}

func hasHeader(h map[string][]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
