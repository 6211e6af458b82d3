package ledger_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/fundledger/fundledger/ledger"
)

// TestAuditDocReconciliation: the reconciliation report of docs/audit.md
// section 3a has the signing input shown, byte for byte, and its
// signature verifies with the key shown.
func TestAuditDocReconciliation(t *testing.T) {
	blocks := auditBlocks(t)
	var r ledger.Reconciliation
	if err := json.Unmarshal([]byte(blocks["recon-example"]), &r); err != nil {
		t.Fatalf("recon-example: %v", err)
	}
	in := ledger.ReconciliationSigningInput(&r)
	if string(in) != blocks["recon-input"]+"\n" {
		t.Fatalf("the signing input of the example is\n%s\nnot the block shown", in)
	}
	if string(r.JSON()) != blocks["recon-example"] {
		t.Fatal("the example does not re-encode to itself: it is not what the ledger publishes")
	}
	m := regexp.MustCompile("public key, base64, is\n`([A-Za-z0-9+/=]+)`").FindStringSubmatch(readAuditDoc(t))
	if m == nil {
		t.Fatal("section 3a names no public key")
	}
	pub, _ := base64.StdEncoding.DecodeString(m[1])
	sig, _ := base64.StdEncoding.DecodeString(r.Signature)
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, in, sig) {
		t.Fatal("the example's signature does not verify with the key shown")
	}
	if r.KeyID != ledger.SigningKeyID(pub) {
		t.Fatalf("key_id %s is not the id of the key shown", r.KeyID)
	}
}

func readAuditDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(auditDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
