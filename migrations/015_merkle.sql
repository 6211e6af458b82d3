-- The Merkle tree over each fund's journal (CONTRACT.md section 12,
-- docs/audit.md "The Merkle tree"), kept as the journal is written so no
-- proof costs a pass over the journal.
--
-- merkle_nodes holds the hash of every complete subtree of 2^level leaves
-- for level >= 6 (64 transactions and up), written in the batch's
-- transaction with the journal rows it covers. Smaller subtrees are
-- recomputed from the journal's own hashes, at most 63 rows read by
-- primary key. Like the journal, rows are never changed or removed.
CREATE TABLE merkle_nodes (
  fund_id text NOT NULL,
  level   smallint NOT NULL CHECK (level BETWEEN 6 AND 63),
  idx     bigint NOT NULL CHECK (idx >= 0),
  hash    bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (fund_id, level, idx)
);

CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- The fund's frontier: the complete subtrees of its tree's right edge,
-- largest first, one 32-byte hash per bit set in head_seq, concatenated;
-- the apply stage knows the root at the fund's head from it.
-- last_snapshot_hash is SHA-256 of the fund's latest snapshot's signed
-- bytes (the next snapshot's prev_snapshot_hash); NULL when the fund has
-- none, or before the ledger first reads it back from that snapshot.
ALTER TABLE funds ADD COLUMN merkle_frontier bytea NOT NULL DEFAULT ''::bytea,
                  ADD COLUMN last_snapshot_hash bytea CHECK (length(last_snapshot_hash) = 32);

-- Build the tree of the journal already written: level by level, every
-- complete subtree, keeping levels >= 6 and each fund's frontier.
CREATE TEMP TABLE merkle_build (fund_id text, level smallint, idx bigint, hash bytea) ON COMMIT DROP;
INSERT INTO merkle_build SELECT fund_id, 0, seq - 1, sha256('\x00'::bytea || hash) FROM journal;
CREATE INDEX ON merkle_build (level, fund_id, idx);
DO $$
DECLARE
  l smallint := 0;
BEGIN
  LOOP
    INSERT INTO merkle_build
    SELECT a.fund_id, l + 1, a.idx / 2, sha256('\x01'::bytea || a.hash || b.hash)
      FROM merkle_build a JOIN merkle_build b ON b.level = l AND b.fund_id = a.fund_id AND b.idx = a.idx + 1
     WHERE a.level = l AND a.idx % 2 = 0;
    EXIT WHEN NOT FOUND;
    l := l + 1;
  END LOOP;
END $$;
INSERT INTO merkle_nodes SELECT fund_id, level, idx, hash FROM merkle_build WHERE level >= 6;
UPDATE funds f SET merkle_frontier = coalesce((
  SELECT string_agg(b.hash, ''::bytea ORDER BY b.level DESC)
    FROM merkle_build b
   WHERE b.fund_id = f.fund_id AND (f.head_seq >> b.level) & 1 = 1 AND b.idx = (f.head_seq >> b.level) - 1), ''::bytea)
 WHERE f.head_seq > 0;

REVOKE ALL ON merkle_nodes FROM PUBLIC;
GRANT SELECT, INSERT ON merkle_nodes TO fundledger_app;
