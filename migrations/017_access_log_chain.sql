-- The access log becomes a hash chain (docs/audit.md section 13): each
-- entry carries the hash of the one before, computed by the writer that
-- appends a batch under a transaction-scoped advisory lock, so several
-- instances append one chain. Entries written before this migration have
-- no hash: the chain starts at the first entry that has one.
ALTER TABLE access_log ADD COLUMN prev_hash bytea CHECK (length(prev_hash) = 32),
                       ADD COLUMN hash bytea CHECK (length(hash) = 32);

-- The writer numbers the entries itself (the chain hashes the seq) and
-- then moves the identity's sequence past them.
DO $$
BEGIN
  EXECUTE format('GRANT USAGE, UPDATE ON SEQUENCE %s TO fundledger_app', pg_get_serial_sequence('access_log', 'seq'));
END
$$;
