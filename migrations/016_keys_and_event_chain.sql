-- The signing keys' history and each fund's chain of events that change
-- rules or state without posting (docs/audit.md sections 11 and 12).

-- The history of the keys that sign snapshots and reports: entry 1 is the
-- ledger's first key (signed by itself), every later entry a rotation
-- signed by the key before it. An entry's valid_until is the next entry's
-- valid_from, so nothing here is ever updated: triggers refuse UPDATE,
-- DELETE and TRUNCATE like on the journal. Keys in signing_keys that are
-- not here signed before the history existed (they stay valid for what
-- they signed).
CREATE TABLE key_history (
  seq         int PRIMARY KEY CHECK (seq > 0),
  key_id      text NOT NULL UNIQUE CHECK (key_id ~ '^[0-9a-f]{64}$'),
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),
  valid_from  timestamptz NOT NULL,
  -- the key id of the previous entry ('' for entry 1): whose signature
  -- this is
  prev_key_id text NOT NULL,
  signature   bytea NOT NULL CHECK (length(signature) = 64),
  recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER key_history_append_only BEFORE UPDATE OR DELETE ON key_history
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER key_history_no_truncate BEFORE TRUNCATE ON key_history
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- A fund's events that were applied without posting a journal
-- transaction (fund.opened, fund.program.set, snapshot.requested,
-- statements, reconciliation requests, closes, a cancellation with
-- nothing outstanding...), chained per fund by hash like the journal.
-- data is the event's data JSON exactly as received.
CREATE TABLE fund_events (
  fund_id     text NOT NULL,
  seq         bigint NOT NULL CHECK (seq > 0),
  event_id    text NOT NULL,
  type        text NOT NULL,
  source      text NOT NULL,
  recorded_at timestamptz NOT NULL,
  data        bytea NOT NULL,
  prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash        bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (fund_id, seq)
);

CREATE TRIGGER fund_events_append_only BEFORE UPDATE OR DELETE ON fund_events
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER fund_events_no_truncate BEFORE TRUNCATE ON fund_events
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- The head of each fund's event chain, kept with the journal's head.
ALTER TABLE funds ADD COLUMN event_seq bigint NOT NULL DEFAULT 0 CHECK (event_seq >= 0),
                  ADD COLUMN event_head bytea,
                  ADD COLUMN event_time timestamptz;

REVOKE ALL ON key_history, fund_events FROM PUBLIC;
GRANT SELECT, INSERT ON key_history, fund_events TO fundledger_app;
