package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// natsServerBin is the real nats-server, built by
// scripts/nats-server-ensure.sh as the fault suite builds it.
func natsServerBin(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("bash", "../../scripts/nats-server-ensure.sh")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/nats-server-ensure.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func makePKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fundledger test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, server bool) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	p := testPKI{CA: writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = issue("server", 2, true)
	p.ClientCert, p.ClientKey = issue("client", 3, false)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ledgerPermissions is what the ledger's NATS user may do (CONTRACT.md
// section 9, docs/security.md): the JetStream API of its two streams and
// its consumer, acks of FUND_EVENTS, replies, and publishing ledger.>.
const ledgerPermissions = `{
      publish: {allow: [
        "$JS.API.STREAM.INFO.FUND_EVENTS", "$JS.API.STREAM.INFO.LEDGER_OUT",
        "$JS.API.STREAM.CREATE.FUND_EVENTS", "$JS.API.STREAM.CREATE.LEDGER_OUT",
        "$JS.API.CONSUMER.CREATE.FUND_EVENTS.fundledger", "$JS.API.CONSUMER.DELETE.FUND_EVENTS.fundledger",
        "$JS.API.CONSUMER.MSG.NEXT.FUND_EVENTS.fundledger",
        "$JS.ACK.FUND_EVENTS.>",
        "ledger.>"
      ]},
      subscribe: {allow: ["_INBOX.>"]}
    }`

// natsConfig is the tested server configuration of docs/security.md:
// TLS with client certificates, one account, the ledger logging in with
// an nkey, a publisher per district with a password, and a reporting
// consumer that reads snapshots, reconciliations and period reports only.
func natsConfig(port int, store string, pki testPKI, ledgerNKey string, pw map[string]string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:%d"
max_payload: 16MB
jetstream { store_dir: %q }
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify: true
  timeout: 5
}
accounts {
  CITY {
    jetstream: enabled
    users: [
      {nkey: %q, permissions: %s}
      {user: "pub-jiangjin", password: %q, permissions: {
        publish: {allow: ["fund.jiangjin-care.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
      {user: "pub-wanzhou", password: %q, permissions: {
        publish: {allow: ["fund.wanzhou-care.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
      {user: "reporting", password: %q, permissions: {
        publish: {deny: [">"]},
        subscribe: {allow: ["ledger.*.snapshot", "ledger.*.reconciliation", "ledger.*.period"]}}}
    ]
  }
}
`, port, store, pki.ServerCert, pki.ServerKey, pki.CA, ledgerNKey, ledgerPermissions, pw["jiangjin"], pw["wanzhou"], pw["reporting"])
}

// startNATSServer runs the binary with conf until the test ends and
// returns its log so far on demand.
func startNATSServer(t *testing.T, bin, dir, conf string, port int) func() string {
	t.Helper()
	confPath := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nats-server -t: %v\n%s\n%s", err, out, conf)
	}
	logPath := filepath.Join(dir, "nats.log")
	cmd := exec.Command(bin, "-c", confPath, "-l", logPath, "-D")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readLog(), "Server is ready") {
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready:\n%s", readLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return readLog
}

// TestNATSAccountsAndTLS runs `fundledger serve` and `fundledger publish`
// against a real nats-server with TLS and per-user permissions: the
// ledger logs in with an nkey and works end to end with only the
// permissions docs/security.md lists; a district's publisher is refused
// by the server when it publishes into another district's fund; a
// reporting consumer gets snapshots and is refused the posted stream.
func TestNATSAccountsAndTLS(t *testing.T) {
	nbin := natsServerBin(t)
	bin := buildCLI(t)
	dir := t.TempDir()
	pki := makePKI(t, dir)
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	seedFile := filepath.Join(dir, "ledger.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{"jiangjin": "pw-jj-" + randHex(8), "wanzhou": "pw-wz-" + randHex(8), "reporting": "pw-rp-" + randHex(8)}
	port := freePort(t)
	natsLog := startNATSServer(t, nbin, dir, natsConfig(port, filepath.Join(dir, "js"), pki, pub, pw), port)
	tlsEnv := []string{"NATS_TLS_CA=" + pki.CA, "NATS_TLS_CERT=" + pki.ClientCert, "NATS_TLS_KEY=" + pki.ClientKey}
	urlOf := func(user string) string {
		if user == "" {
			return fmt.Sprintf("tls://127.0.0.1:%d", port)
		}
		return fmt.Sprintf("tls://%s:%s@127.0.0.1:%d", user, pw[strings.TrimPrefix(user, "pub-")], port)
	}

	// The reporting consumer: snapshots yes, posted transactions no.
	var mu sync.Mutex
	var reportErrs []string
	rep, err := nats.Connect(urlOf("reporting"), nats.RootCAs(pki.CA), nats.ClientCert(pki.ClientCert, pki.ClientKey),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			reportErrs = append(reportErrs, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("reporting user: %v", err)
	}
	defer rep.Close()
	snaps, _ := rep.SubscribeSync("ledger.*.snapshot")
	posted, _ := rep.SubscribeSync("ledger.*.posted")
	_ = rep.Flush()

	// Without TLS, or without a client certificate, the server says no.
	if nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Error("connected without TLS")
	}
	if nc, err := nats.Connect(urlOf("pub-jiangjin"), nats.RootCAs(pki.CA), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Error("connected without a client certificate")
	}

	// The ledger, as `fundledger serve` runs it.
	db := testenv.NewDatabase(t)
	httpPort := freePort(t)
	serve := exec.Command(bin, "serve")
	serve.Env = append(envWithout("DATABASE_URL", "NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY",
		"HTTP_ADDR", "AUTH_JWKS", "FUNDLEDGER_DATA_DIR"),
		append(tlsEnv, "DATABASE_URL="+db, "NATS_URL="+urlOf(""), "NATS_NKEY="+seedFile,
			fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", httpPort), "FUNDLEDGER_DATA_DIR="+filepath.Join(dir, "data"),
			"FUNDLEDGER_SIGNING_KEY_FILE="+filepath.Join(dir, "keys", "signing.key"), "HOLD_WINDOW=1s")...)
	var serveLog syncBuffer
	serve.Stderr = &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
	}()
	waitFor(t, 60*time.Second, "serve to answer /healthz", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.Contains(serveLog.String(), "consumer lease taken")
	}, func() string { return serveLog.String() + "\n" + natsLog() })

	// Each district publishes its own fund's events.
	events := func(fund string) string {
		p := filepath.Join(dir, fund+".jsonl")
		lines := []string{
			envelope(fund, "fund.opened", fmt.Sprintf(`{"fund_id": %q, "name": "F", "programs": [{"code": "care"}]}`, fund)),
			envelope(fund, "contribution.received", `{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "city", "amount": "1000.00", "bank_ref": "b-1", "received_on": "2026-03-01"}`),
			envelope(fund, "grant.approved", `{"grant_id": "g-1", "beneficiary_ref": "ben-1", "program": "care", "category": "x", "amount": "300.00", "requested_by": "a", "approved_by": "b", "approved_on": "2026-03-02"}`),
			envelope(fund, "snapshot.requested", `{"requested_by": "auditor"}`),
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	publisher := func(user string) *cliRun {
		return &cliRun{t: t, bin: bin, env: append(envWithout("NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"),
			append(tlsEnv, "NATS_URL="+urlOf(user))...)}
	}
	jj, wz := publisher("pub-jiangjin"), publisher("pub-wanzhou")
	jj.ok("publish", events("jiangjin-care"), "--fund", "jiangjin-care", "-o", "json")
	wz.ok("publish", events("wanzhou-care"), "--fund", "wanzhou-care", "-o", "json")

	// jiangjin's publisher writing into wanzhou's fund: the server refuses.
	bad := filepath.Join(dir, "intrusion.jsonl")
	if err := os.WriteFile(bad, []byte(envelope("wanzhou-care", "contribution.received",
		`{"contribution_id": "c-evil", "source_kind": "other", "payer": "x", "amount": "5.00", "bank_ref": "b", "received_on": "2026-03-03"}`)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := jj.run("", "publish", bad, "--fund", "wanzhou-care", "--ack-timeout", "2s", "-o", "json")
	if code == 0 || !strings.Contains(errs, `Permissions Violation for Publish to "fund.wanzhou-care.contribution.received"`) {
		t.Errorf("cross-district publish: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if strings.Contains(out+errs, pw["jiangjin"]) {
		t.Error("publish printed the password of NATS_URL")
	}

	// The ledger posted both funds' events, and only those.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, 30*time.Second, "both funds posted and snapshotted", func() bool {
		var txns, snapshots int
		_ = conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM snapshots)`).Scan(&txns, &snapshots)
		return txns == 4 && snapshots == 2
	}, func() string { return serveLog.String() })
	var evil int
	_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM business_ids WHERE id = 'c-evil'`).Scan(&evil)
	if evil != 0 {
		t.Error("the refused publish reached the books")
	}

	// The reporting user got both snapshots, no posted transaction, and
	// its subscription to posted was refused by the server.
	for i := 0; i < 2; i++ {
		m, err := snaps.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("snapshot %d not received by the reporting user: %v", i+1, err)
		}
		var s struct {
			FundID string `json:"fund_id"`
		}
		_ = json.Unmarshal(m.Data, &s)
		if s.FundID == "" {
			t.Errorf("snapshot message %s", m.Data)
		}
	}
	if m, err := posted.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("the reporting user received a posted transaction: %s", m.Data)
	}
	mu.Lock()
	if !strings.Contains(strings.Join(reportErrs, "\n"), `Permissions Violation for Subscription to "ledger.*.posted"`) {
		t.Errorf("reporting user's errors %v: want the server refusing ledger.*.posted", reportErrs)
	}
	mu.Unlock()

	// The ledger's own user may do no more than it needs.
	led, err := nats.Connect(urlOf(""), nats.RootCAs(pki.CA), nats.ClientCert(pki.ClientCert, pki.ClientKey), mustNKey(t, seedFile),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	for _, subj := range []string{"fund.jiangjin-care.contribution.received", "$JS.API.STREAM.DELETE.FUND_EVENTS", "$JS.API.STREAM.PURGE.LEDGER_OUT"} {
		if err := led.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		_ = led.Flush()
		waitFor(t, 5*time.Second, "the server to refuse the ledger publishing "+subj, func() bool {
			return led.LastError() != nil && strings.Contains(led.LastError().Error(), subj)
		}, natsLog)
	}
	if strings.Contains(serveLog.String(), "Permissions Violation") || strings.Contains(natsLog(), `"ledger" - Permissions Violation`) {
		t.Errorf("the ledger ran into a permission it lacks:\n%s", serveLog.String())
	}
	for _, secret := range []string{string(seed), pw["jiangjin"], pw["wanzhou"], pw["reporting"]} {
		if strings.Contains(serveLog.String(), secret) {
			t.Error("serve logged a secret")
		}
	}
}

func mustNKey(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func envelope(fund, typ, data string) string {
	return fmt.Sprintf(`{"specversion": "1.0", "id": "%s-%s-%s", "source": "approvals/%s", "type": %q, "time": "2026-03-02T09:15:00+08:00", "datacontenttype": "application/json", "data": %s}`,
		fund, typ, randHex(4), fund, typ, data)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s\n%s", d, what, diag())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNATSCredsFile: with NATS_CREDS (a user JWT and its seed, as an
// operator-mode server issues them) serve consumes and posts, and
// publish sends, each with its own user's rights.
func TestNATSCredsFile(t *testing.T) {
	nbin := natsServerBin(t)
	bin := buildCLI(t)
	dir := t.TempDir()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		c := jwt.NewAccountClaims(pub)
		if js {
			c.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := c.Encode(okp)
		if err != nil {
			t.Fatal(err)
		}
		return kp, pub, tok
	}
	_, spub, sjwt := account(false)
	akp, apub, ajwt := account(true)
	creds := func(name string, pub, sub []string) string {
		kp, _ := nkeys.CreateUser()
		upub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		c := jwt.NewUserClaims(upub)
		c.Name = name
		c.Pub.Allow.Add(pub...)
		c.Sub.Allow.Add(sub...)
		tok, err := c.Encode(akp)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.FormatUserConfig(tok, seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ledgerCreds := creds("ledger", []string{
		"$JS.API.STREAM.INFO.FUND_EVENTS", "$JS.API.STREAM.INFO.LEDGER_OUT",
		"$JS.API.STREAM.CREATE.FUND_EVENTS", "$JS.API.STREAM.CREATE.LEDGER_OUT",
		"$JS.API.CONSUMER.CREATE.FUND_EVENTS.fundledger", "$JS.API.CONSUMER.DELETE.FUND_EVENTS.fundledger",
		"$JS.API.CONSUMER.MSG.NEXT.FUND_EVENTS.fundledger", "$JS.ACK.FUND_EVENTS.>", "ledger.>"}, []string{"_INBOX.>"})
	pubCreds := creds("pub-jiangjin", []string{"fund.jiangjin-care.>"}, []string{"_INBOX.>"})

	port := freePort(t)
	conf := fmt.Sprintf(`listen: "127.0.0.1:%d"
max_payload: 16MB
operator: %s
system_account: %s
resolver: MEMORY
resolver_preload: {
  %s: %s
  %s: %s
}
jetstream { store_dir: %q }
`, port, ojwt, spub, spub, sjwt, apub, ajwt, filepath.Join(dir, "js"))
	natsLog := startNATSServer(t, nbin, dir, conf, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	db := testenv.NewDatabase(t)
	httpPort := freePort(t)
	serve := exec.Command(bin, "serve")
	serve.Env = append(envWithout("DATABASE_URL", "NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY",
		"HTTP_ADDR", "AUTH_JWKS", "FUNDLEDGER_DATA_DIR"),
		"DATABASE_URL="+db, "NATS_URL="+url, "NATS_CREDS="+ledgerCreds,
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", httpPort), "FUNDLEDGER_DATA_DIR="+filepath.Join(dir, "data"),
		"FUNDLEDGER_SIGNING_KEY_FILE="+filepath.Join(dir, "keys", "signing.key"))
	var serveLog syncBuffer
	serve.Stderr = &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
	}()
	waitFor(t, 60*time.Second, "serve to take the consumer", func() bool {
		return strings.Contains(serveLog.String(), "consumer lease taken")
	}, func() string { return serveLog.String() + "\n" + natsLog() })

	file := filepath.Join(dir, "events.jsonl")
	lines := envelope("jiangjin-care", "fund.opened", `{"fund_id": "jiangjin-care", "name": "F", "programs": [{"code": "care"}]}`) + "\n" +
		envelope("jiangjin-care", "contribution.received", `{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "city", "amount": "1000.00", "bank_ref": "b-1", "received_on": "2026-03-01"}`) + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := &cliRun{t: t, bin: bin, env: append(envWithout("NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"),
		"NATS_URL="+url, "NATS_CREDS="+pubCreds)}
	pub.ok("publish", file, "--fund", "jiangjin-care", "-o", "json")
	_, errs, code := pub.run("", "publish", file, "--fund", "wanzhou-care", "--ack-timeout", "2s", "-o", "json")
	if code == 0 || !strings.Contains(errs, "Permissions Violation") {
		t.Errorf("publish into another fund with jiangjin's creds: exit %d, stderr %s", code, errs)
	}

	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, 30*time.Second, "the contribution posted", func() bool {
		var n int
		_ = conn.QueryRow(context.Background(), `SELECT count(*) FROM journal WHERE fund_id = 'jiangjin-care'`).Scan(&n)
		return n == 1
	}, func() string { return serveLog.String() + "\n" + natsLog() })
	if strings.Contains(serveLog.String(), "Permissions Violation") {
		t.Errorf("the ledger ran into a permission it lacks:\n%s", serveLog.String())
	}
}
