package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
)

// auditDocV1Snapshot is the example snapshot of docs/audit.md as it was
// published and signed before snapshots carried a tree head (version 1,
// with the 16-digit key id of then).
const auditDocV1Snapshot = `{"fund_id":"jiangjin-care","snapshot_seq":1,"label":"2026-03","as_of_journal_seq":2,"as_of":"2026-03-02T01:20:07.000042Z","chain_head":"4c9b6c44f2a59fa5595dedd65624d3091dd085f48d05c4e3b1cb65ad8c35ef89","accounts":[{"account":"cash","debits":"20000.00","credits":"0.00","balance":"20000.00"},{"account":"contributions:fiscal","debits":"0.00","credits":"20000.00","balance":"20000.00"},{"account":"grant_expense:care_fund","debits":"1250.00","credits":"0.00","balance":"1250.00"},{"account":"grants_payable","debits":"0.00","credits":"1250.00","balance":"1250.00"}],"total_debits":"21250.00","total_credits":"21250.00","balanced":true,"available":"18750.00","outstanding_grants":{"count":1,"amount":"1250.00"},"key_id":"21fe31dfa154a261","signature":"/+3U1sZcOlpNBh2HuskycTYvG5Ol2c8xrw5vNFmc4gjIQszS53IcBjQN7Gg8Q4uOK+nhkWzRiXkK4CAztS2SCA=="}`

// TestSnapshotV1StillVerifies: a snapshot signed as version 1 verifies
// unchanged (its JSON round-trips byte for byte, its signing input is the
// version 1 one), and a version 2 snapshot after it chains to it; a
// broken link or a false tree root is found.
func TestSnapshotV1StillVerifies(t *testing.T) {
	blocks := auditBlocks(t)
	priv := auditDocKey(t, blocks)
	pub := priv.Public().(ed25519.PublicKey)
	var v1 ledger.Snapshot
	if err := json.Unmarshal([]byte(auditDocV1Snapshot), &v1); err != nil {
		t.Fatal(err)
	}
	if v1.TreeSize != nil || string(v1.JSON()) != auditDocV1Snapshot {
		t.Fatalf("a version 1 snapshot does not round-trip:\n%s", v1.JSON())
	}
	sig, _ := base64.StdEncoding.DecodeString(v1.Signature)
	if !ed25519.Verify(pub, ledger.SnapshotSigningInput(&v1), sig) {
		t.Fatal("the version 1 snapshot's signature no longer verifies")
	}

	txns := auditDocTxns(t, blocks)
	var f merkle.Frontier
	for _, x := range txns {
		f.Append(merkle.LeafHash(x.Hash), nil)
	}
	v2 := v1
	size := int64(2)
	v2.SnapshotSeq, v2.Label, v2.TreeSize, v2.TreeRoot = 2, "", &size, f.Root().Hex()
	v2.PrevSnapshotHash = hex.EncodeToString(ledger.SnapshotHash(&v1))
	v2.KeyID = ledger.SigningKeyID(pub)
	sign := func(s *ledger.Snapshot) []byte {
		s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, ledger.SnapshotSigningInput(s)))
		return s.JSON()
	}
	if sum := sha256.Sum256(ledger.SnapshotSigningInput(&v1)); hex.EncodeToString(sum[:]) != v2.PrevSnapshotHash {
		t.Fatal("SnapshotHash is not SHA-256 of the signing input")
	}
	run := func(second []byte) *ledger.Verifier {
		v := ledger.NewVerifier("jiangjin-care", time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC), map[string]ed25519.PublicKey{ledger.SigningKeyID(pub): pub})
		for _, x := range txns {
			v.Txn(x)
		}
		v.Snapshot(ledger.StoredSnapshot{SnapshotSeq: 1, AsOfJournalSeq: 2, Published: []byte(auditDocV1Snapshot)})
		v.Snapshot(ledger.StoredSnapshot{SnapshotSeq: 2, AsOfJournalSeq: 2, Published: second})
		v.End(nil)
		return v
	}
	if v := run(sign(&v2)); !v.OK() {
		t.Fatalf("v1 then v2: %v", v.Problems())
	}
	bad := v2
	bad.PrevSnapshotHash = ledger.ZeroHash
	if v := run(sign(&bad)); v.OK() {
		t.Fatal("a broken prev_snapshot_hash verifies")
	}
	bad = v2
	bad.TreeRoot = merkle.EmptyRoot.Hex()
	if v := run(sign(&bad)); v.OK() {
		t.Fatal("a false tree_root verifies")
	}
	bad = v2
	other := int64(1)
	bad.TreeSize = &other
	if v := run(sign(&bad)); v.OK() {
		t.Fatal("a false tree_size verifies")
	}
}
