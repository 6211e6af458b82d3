// Package natsembed runs an in-process NATS server with JetStream, the
// default when NATS_URL is not set, so a newcomer needs only PostgreSQL.
package natsembed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the embedded server's max_payload. NATS counts headers
// in it, so an 8 MiB event with its Nats-Msg-Id needs more than 8 MiB; a
// message over 8 MiB must reach the ledger to be refused as too_large
// (FUND_EVENTS takes up to events.MaxCarriedBytes); and a rejection, which
// carries the refused message escaped as a JSON string, is larger than the
// message it refuses.
const MaxPayload = events.MaxCarriedBytes

// Server is a running embedded server.
type Server struct {
	*server.Server
	URL string
}

// Start runs a JetStream server storing under dataDir/jetstream, listening
// on 127.0.0.1:preferredPort, or on a free port when that one is taken (the
// machine may already run a NATS there). It writes its URL to
// dataDir/nats.url, where the project's commands look for it.
func Start(dataDir string, preferredPort int) (*Server, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("natsembed: data dir: %w", err)
	}
	port := preferredPort
	if port <= 0 {
		port = server.RANDOM_PORT // the server reads 0 as 4222
	} else if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		port = server.RANDOM_PORT
	} else {
		l.Close()
	}
	opts := &server.Options{
		ServerName: "fundledger-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		MaxPayload: MaxPayload,
		NoSigs:     true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: server not ready after 15s")
	}
	url := s.ClientURL()
	if err := os.WriteFile(filepath.Join(dataDir, "nats.url"), []byte(url+"\n"), 0o644); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: write nats.url: %w", err)
	}
	return &Server{Server: s, URL: url}, nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// URLFromDataDir reads the URL an embedded server wrote, for commands run
// beside `serve` with NATS_URL unset.
func URLFromDataDir(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "nats.url"))
	if err != nil {
		return "", fmt.Errorf("no NATS_URL and no embedded server's address in %s: %w", dataDir, err)
	}
	return string(trimSpace(b)), nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
