package natsembed_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	fjs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/events/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEmbeddedServer: with its preferred port taken, the server listens on
// another, writes that address to nats.url, and accepts an 8 MiB event
// published with its Nats-Msg-Id (NATS counts the header in max_payload),
// and one just over 8 MiB, which the ledger must see to refuse it as
// too_large (CONTRACT.md sections 1, 3 and 8).
func TestEmbeddedServer(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	s, err := natsembed.Start(dir, taken.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if strings.HasSuffix(s.URL, ":"+strings.Split(taken.Addr().String(), ":")[1]) {
		t.Fatalf("listens on the taken port: %s", s.URL)
	}
	url, err := natsembed.URLFromDataDir(dir)
	if err != nil || url != s.URL {
		t.Fatalf("nats.url holds %q (%v), want %q", url, err, s.URL)
	}

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fjs.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{events.MaxMessageBytes, events.MaxMessageBytes + 1} {
		body := bytes.Repeat([]byte("x"), n)
		if _, err := js.Publish(ctx, "fund.f.grant.batch.approved", body, jetstream.WithMsgID("evt-"+strings.Repeat("0", 36))); err != nil {
			t.Errorf("publish %d bytes with Nats-Msg-Id: %v", n, err)
		}
	}
}
