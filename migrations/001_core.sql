-- The core books of fundledger. Money is numeric(20,2); no float anywhere.
-- The journal (journal + postings), snapshots and rejections are append-only:
-- triggers refuse UPDATE, DELETE and TRUNCATE, and the service's role
-- (fundledger_app) is granted only SELECT and INSERT on them.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fundledger_app') THEN
    CREATE ROLE fundledger_app NOLOGIN;
  END IF;
  -- The migrating user may SET ROLE to the service's role.
  IF NOT pg_has_role(current_user, 'fundledger_app', 'MEMBER') THEN
    EXECUTE format('GRANT fundledger_app TO %I', current_user);
  END IF;
END
$$;

-- One row per fund: its identity and the head of its hash chain.
CREATE TABLE funds (
  fund_id                  text PRIMARY KEY,
  name                     text NOT NULL,
  currency                 text NOT NULL,
  opened_event_id          text NOT NULL,
  opened_at                timestamptz NOT NULL,
  head_seq                 bigint NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
  head_hash                bytea NOT NULL,
  head_time                timestamptz,
  open_grants              bigint NOT NULL DEFAULT 0 CHECK (open_grants >= 0),
  snapshot_seq             bigint NOT NULL DEFAULT 0,
  snapshot_journal_seq     bigint NOT NULL DEFAULT 0
);

CREATE TABLE programs (
  fund_id   text NOT NULL REFERENCES funds,
  code      text NOT NULL,
  cap       numeric(20,2) CHECK (cap > 0),
  PRIMARY KEY (fund_id, code)
);

-- Kept balances: one row per account, so a balance is read without
-- scanning the journal. Debits and credits are running totals.
CREATE TABLE balances (
  fund_id   text NOT NULL REFERENCES funds,
  account   text NOT NULL,
  debits    numeric(20,2) NOT NULL DEFAULT 0 CHECK (debits >= 0),
  credits   numeric(20,2) NOT NULL DEFAULT 0 CHECK (credits >= 0),
  PRIMARY KEY (fund_id, account)
);

-- The journal: one row per transaction, chained per fund by hash.
CREATE TABLE journal (
  fund_id     text NOT NULL REFERENCES funds,
  seq         bigint NOT NULL CHECK (seq > 0),
  event_id    text NOT NULL,
  type        text NOT NULL,
  source      text NOT NULL,
  recorded_at timestamptz NOT NULL,
  refs        jsonb NOT NULL,
  prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash        bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (fund_id, seq)
);
CREATE INDEX journal_event_id ON journal (event_id);

-- Postings are inserted before their journal row in the same database
-- transaction; the foreign key is checked at commit.
CREATE TABLE postings (
  fund_id   text NOT NULL,
  seq       bigint NOT NULL,
  line      int NOT NULL CHECK (line >= 0),
  account   text NOT NULL,
  side      text NOT NULL CHECK (side IN ('debit', 'credit')),
  amount    numeric(20,2) NOT NULL CHECK (amount > 0),
  PRIMARY KEY (fund_id, seq, line),
  FOREIGN KEY (fund_id, seq) REFERENCES journal DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX postings_account ON postings (fund_id, account, seq);

CREATE FUNCTION fl_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'fundledger: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Postings may only be added to a transaction that is not in the journal
-- yet: once a journal row exists its postings are closed.
CREATE FUNCTION fl_postings_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
  SELECT n.fund_id, n.seq INTO bad
    FROM new_rows n JOIN journal j USING (fund_id, seq) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fundledger: postings added to existing transaction %/%', bad.fund_id, bad.seq
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;

-- Every journal transaction must have postings whose debits equal credits.
CREATE FUNCTION fl_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
  SELECT j.fund_id, j.seq,
         coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit'), 0) AS dr,
         coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit'), 0) AS cr
    INTO bad
    FROM new_rows j LEFT JOIN postings p ON p.fund_id = j.fund_id AND p.seq = j.seq
   GROUP BY j.fund_id, j.seq
  HAVING coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit'), 0)
      <> coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit'), 0)
      OR count(p.line) < 2
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fundledger: transaction %/% does not balance (debits %, credits %)',
      bad.fund_id, bad.seq, bad.dr, bad.cr USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER postings_closed AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fl_postings_closed();
CREATE TRIGGER journal_balanced AFTER INSERT ON journal
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fl_journal_balanced();

-- Exactly one outcome per envelope id, ever. outcome is 'held' while the
-- event waits for the grant or payment it names.
CREATE TABLE inbox (
  event_id     text PRIMARY KEY,
  fund_id      text NOT NULL,
  type         text NOT NULL,
  stream_seq   bigint NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('posted', 'applied', 'duplicate', 'rejected', 'held')),
  processed_at timestamptz NOT NULL
);

-- Business ids (grant, payment, contribution, allocation, recovery, batch):
-- taken by the event that was applied, with the hash of its data.
CREATE TABLE business_ids (
  fund_id      text NOT NULL,
  kind         text NOT NULL,
  id           text NOT NULL,
  event_id     text NOT NULL,
  content_hash bytea NOT NULL,
  PRIMARY KEY (fund_id, kind, id)
);

CREATE TABLE grants (
  fund_id         text NOT NULL REFERENCES funds,
  grant_id        text NOT NULL,
  beneficiary_ref text NOT NULL,
  program         text NOT NULL,
  category        text NOT NULL,
  approved_on     date NOT NULL,
  event_id        text NOT NULL,
  approved        numeric(20,2) NOT NULL,
  paid            numeric(20,2) NOT NULL DEFAULT 0,
  returned        numeric(20,2) NOT NULL DEFAULT 0,
  cancelled       numeric(20,2) NOT NULL DEFAULT 0,
  recovered       numeric(20,2) NOT NULL DEFAULT 0,
  closed          boolean NOT NULL DEFAULT false,
  activity_n      int NOT NULL DEFAULT 0,
  PRIMARY KEY (fund_id, grant_id),
  CHECK (approved - cancelled - paid + returned >= 0),
  CHECK (paid - returned - recovered >= 0)
);

CREATE TABLE payments (
  fund_id    text NOT NULL,
  payment_id text NOT NULL,
  grant_id   text NOT NULL,
  amount     numeric(20,2) NOT NULL CHECK (amount > 0),
  returned   numeric(20,2) NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= amount),
  paid_on    date NOT NULL,
  bank_ref   text NOT NULL,
  event_id   text NOT NULL,
  PRIMARY KEY (fund_id, payment_id),
  FOREIGN KEY (fund_id, grant_id) REFERENCES grants
);

-- What happened to a grant, in order, for the read API and exports.
CREATE TABLE grant_activity (
  fund_id     text NOT NULL,
  grant_id    text NOT NULL,
  n           int NOT NULL,
  kind        text NOT NULL,
  ref         text NOT NULL DEFAULT '',
  amount      numeric(20,2) NOT NULL,
  journal_seq bigint,
  event_id    text NOT NULL,
  recorded_at timestamptz NOT NULL,
  PRIMARY KEY (fund_id, grant_id, n)
);

-- Approved less cancelled, per beneficiary, program and calendar year.
CREATE TABLE cap_usage (
  fund_id         text NOT NULL,
  program         text NOT NULL,
  beneficiary_ref text NOT NULL,
  year            int NOT NULL,
  used            numeric(20,2) NOT NULL CHECK (used >= 0),
  PRIMARY KEY (fund_id, program, beneficiary_ref, year)
);

-- Events waiting for a grant or payment they name.
CREATE TABLE held (
  event_id    text PRIMARY KEY,
  fund_id     text NOT NULL,
  stream_seq  bigint NOT NULL,
  subject     text NOT NULL,
  raw         bytea NOT NULL,
  waiting_on  text NOT NULL,
  code        text NOT NULL,
  received_at timestamptz NOT NULL,
  deadline    timestamptz NOT NULL
);
CREATE INDEX held_waiting ON held (fund_id, waiting_on);
CREATE INDEX held_deadline ON held (deadline);

CREATE TABLE rejections (
  seq          bigserial PRIMARY KEY,
  event_id     text NOT NULL,
  type         text NOT NULL,
  fund_id      text NOT NULL,
  code         text NOT NULL,
  message      text NOT NULL,
  lines        jsonb,
  received_at  timestamptz NOT NULL,
  raw          text NOT NULL,
  raw_base64   boolean NOT NULL DEFAULT false,
  stream_seq   bigint NOT NULL
);
CREATE INDEX rejections_fund ON rejections (fund_id, seq);

CREATE TABLE snapshots (
  fund_id           text NOT NULL REFERENCES funds,
  snapshot_seq      bigint NOT NULL,
  label             text NOT NULL DEFAULT '',
  as_of_journal_seq bigint NOT NULL,
  body              jsonb NOT NULL,
  published         bytea NOT NULL,
  created_at        timestamptz NOT NULL,
  PRIMARY KEY (fund_id, snapshot_seq)
);

-- Public keys that signed snapshots, so a copied snapshot can be verified.
CREATE TABLE signing_keys (
  key_id     text PRIMARY KEY,
  public_key bytea NOT NULL,
  created_at timestamptz NOT NULL
);

-- Transactional outbox: rows are written with the books and deleted once
-- JetStream acknowledged them.
CREATE TABLE outbox (
  id       bigserial PRIMARY KEY,
  subject  text NOT NULL,
  msg_id   text NOT NULL,
  payload  bytea NOT NULL
);

-- The consumer's position in FUND_EVENTS and the fencing epoch of the
-- instance that may write.
CREATE TABLE consumer_state (
  name       text PRIMARY KEY,
  stream_seq bigint NOT NULL DEFAULT 0,
  epoch      bigint NOT NULL DEFAULT 0,
  holder     text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER snapshots_append_only BEFORE UPDATE OR DELETE ON snapshots
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER snapshots_no_truncate BEFORE TRUNCATE ON snapshots
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER rejections_append_only BEFORE UPDATE OR DELETE ON rejections
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER rejections_no_truncate BEFORE TRUNCATE ON rejections
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

REVOKE ALL ON journal, postings, snapshots, rejections FROM PUBLIC;
GRANT SELECT, INSERT ON journal, postings, snapshots, rejections TO fundledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON funds, programs, balances, inbox, business_ids,
  grants, payments, grant_activity, cap_usage, held, outbox, consumer_state TO fundledger_app;
GRANT SELECT, INSERT ON signing_keys TO fundledger_app;
GRANT USAGE ON SEQUENCE rejections_seq_seq, outbox_id_seq TO fundledger_app;
