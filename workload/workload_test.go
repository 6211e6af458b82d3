package workload_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/workload"
)

// small is a stream with every feature switched on, small enough for a
// unit test: 3 districts and the city for 7 months (July changes a cap).
func small(seed int64) workload.Config {
	c := workload.Default(seed)
	c.Funds, c.Months, c.GrantsPerMonth, c.BatchLines = 3, 7, 40, 120
	c.CityGrants = true
	c.BadRate, c.DupRate, c.EarlyRate = 0.05, 0.03, 0.1
	return c
}

func digest(t *testing.T, cfg workload.Config) ([32]byte, workload.Expected) {
	t.Helper()
	h := sha256.New()
	exp, err := workload.Generate(cfg, func(m workload.Msg) error {
		h.Write([]byte(m.Subject + "\x00" + m.ID + "\x00" + string(m.Want) + "\x00"))
		h.Write(m.Data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, exp
}

func TestSameSeedSameBytes(t *testing.T) {
	a, ea := digest(t, small(7))
	b, eb := digest(t, small(7))
	if a != b {
		t.Fatal("two runs with seed 7 gave different bytes")
	}
	if ea.Messages != eb.Messages || ea.Txns != eb.Txns {
		t.Fatalf("expectations differ: %d/%d messages, %d/%d transactions", ea.Messages, eb.Messages, ea.Txns, eb.Txns)
	}
	c, _ := digest(t, small(8))
	if a == c {
		t.Fatal("seeds 7 and 8 gave the same bytes")
	}
}

// decodeLevel are the codes events.Decode gives on its own; the others
// need the books.
var decodeLevel = map[events.Code]bool{
	events.Malformed: true, events.UnsupportedType: true, events.MissingField: true,
	events.InvalidField: true, events.InvalidAmount: true, events.TooLarge: true,
}

func TestEventsDecodeAsIntended(t *testing.T) {
	cfg := small(1)
	ids := map[string]bool{}
	kinds := map[string]int{}
	codes := map[events.Code]int{}
	exp, err := workload.Generate(cfg, func(m workload.Msg) error {
		kinds[m.Kind]++
		d := events.Decode(m.Subject, m.Data)
		switch {
		case m.Want == "":
			if d.Rejection != nil {
				t.Errorf("good %s event refused by Decode: %v\n%s", m.Kind, d.Rejection, m.Data)
			}
			if d.ID != m.ID {
				t.Errorf("envelope id %q, Msg.ID %q", d.ID, m.ID)
			}
			if want := events.InboundSubject(d.FundID, d.Type); m.Subject != want {
				t.Errorf("subject %s, want %s", m.Subject, want)
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(m.Data, &env); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
				if env[k] == nil {
					t.Errorf("%s event lacks envelope field %s", m.Kind, k)
				}
			}
			if len(env) != 7 || string(env["specversion"]) != `"1.0"` || string(env["datacontenttype"]) != `"application/json"` {
				t.Errorf("envelope not per CONTRACT section 2: %s", m.Data[:min(200, len(m.Data))])
			}
			if m.Kind != "resend" {
				if ids[m.ID] {
					t.Errorf("envelope id %s used twice", m.ID)
				}
				ids[m.ID] = true
			} else if !ids[m.ID] {
				t.Errorf("resend of an id never sent: %s", m.ID)
			}
		case decodeLevel[m.Want]:
			codes[m.Want]++
			if d.Rejection == nil || d.Rejection.Code != m.Want {
				t.Errorf("%s: Decode gave %v, want %s\n%s", m.Kind, d.Rejection, m.Want, m.Data[:min(300, len(m.Data))])
			}
		default:
			codes[m.Want]++
			// Refused by the books, so it must get past Decode.
			if d.Rejection != nil {
				t.Errorf("%s: Decode refused it (%v); it should reach the books for %s", m.Kind, d.Rejection, m.Want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range workload.BadKinds {
		if kinds["bad:"+k.Kind] == 0 {
			t.Errorf("no bad event of kind %s", k.Kind)
		}
	}
	for _, k := range []string{"bad:too_large", "early", "duplicate", "resend", "grant.batch.approved", "grant.cancelled",
		"payment.returned", "grant.recovered", "allocation.approved", "fund.program.set", "snapshot.requested"} {
		if kinds[k] == 0 {
			t.Errorf("no message of kind %s", k)
		}
	}
	for code, n := range exp.Rejections {
		if codes[code] != n {
			t.Errorf("Expected.Rejections[%s] = %d, but %d messages want it", code, n, codes[code])
		}
	}
	if exp.Skipped != 0 {
		t.Errorf("%d good events skipped", exp.Skipped)
	}
}

func TestDemoSizes(t *testing.T) {
	var approvals, lines, batches int
	exp, err := workload.Generate(workload.Demo(1), func(m workload.Msg) error {
		if m.Want != "" || m.Kind == "resend" || m.Kind == "duplicate" {
			return nil
		}
		switch m.Kind {
		case events.TypeGrantApproved:
			if strings.HasPrefix(m.Subject, "fund.jiangjin-care.") {
				approvals++
			}
		case events.TypeGrantBatchApproved:
			var env struct {
				Data struct{ Lines []json.RawMessage } `json:"data"`
			}
			if err := json.Unmarshal(m.Data, &env); err != nil {
				return err
			}
			batches++
			lines += len(env.Data.Lines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// DOMAIN.md: about 427 care grants a year in one district; monthly
	// pension batches of thousands of lines.
	if approvals < 380 || approvals > 470 {
		t.Errorf("%d single approvals in Jiangjin in a year, want about 430", approvals)
	}
	if batches < 24 || lines < 12*3000 {
		t.Errorf("%d batches with %d lines, want at least 12 pension batches of 3,000", batches, lines)
	}
	if int64(lines) != exp.BatchLines {
		t.Errorf("Expected.BatchLines = %d, counted %d", exp.BatchLines, lines)
	}
	if len(exp.FundIDs) != 2 || exp.FundIDs[0] != workload.CityFundID || exp.FundIDs[1] != "jiangjin-care" {
		t.Errorf("funds %v", exp.FundIDs)
	}
}

func TestFundIDsAreValid(t *testing.T) {
	if len(workload.Districts) != 38 {
		t.Fatalf("%d districts, want 38", len(workload.Districts))
	}
	seen := map[string]bool{}
	for _, d := range append(workload.Districts, workload.District{Short: "liangjiang"}) {
		if !events.ValidFundID(d.FundID()) || seen[d.FundID()] {
			t.Errorf("fund id %q invalid or repeated", d.FundID())
		}
		seen[d.FundID()] = true
	}
	if !events.ValidFundID(workload.CityFundID) || seen[workload.CityFundID] {
		t.Error("city fund id")
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	w := workload.NewJSONLines(&buf)
	var msgs []workload.Msg
	_, err := workload.Generate(small(3), func(m workload.Msg) error {
		msgs = append(msgs, m)
		return w.Write(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("%d lines for %d messages", len(lines), len(msgs))
	}
	for i, l := range lines {
		var x struct {
			Subject string          `json:"subject"`
			Event   json.RawMessage `json:"event"`
			Raw     *string         `json:"raw"`
			MsgID   string          `json:"msg_id"`
		}
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if x.Subject != msgs[i].Subject {
			t.Fatalf("line %d: subject %q, want %q", i+1, x.Subject, msgs[i].Subject)
		}
		got := []byte(x.Event)
		if msgs[i].Want == events.Malformed {
			// Not JSON: carried as text in "raw", published byte for byte.
			if x.Raw == nil || *x.Raw != string(msgs[i].Data) || x.Event != nil || x.MsgID != msgs[i].ID {
				t.Fatalf("line %d: malformed message not kept as raw text with its msg_id: %s", i+1, l)
			}
			continue
		}
		if !bytes.Equal(got, msgs[i].Data) {
			t.Fatalf("line %d: event differs from the message", i+1)
		}
	}
}
