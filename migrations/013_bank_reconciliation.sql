-- Bank reconciliation (CONTRACT.md section 10, docs/reconciliation.md).
--
--   recon_state          one row per fund with a statement: its bank account,
--                        where its statements stand, its running totals
--   bank_statements      accepted statements (evidence: append-only)
--   bank_entries         their entries; match_id is set once, when an entry
--                        is matched (a match is never undone)
--   recon_book_open      the fund's cash postings not matched yet: the
--                        matcher's index, written as cash postings are
--                        written, a row deleted when its item is matched or
--                        falls before the bank's history
--   recon_matches        every match, one row per book item (append-only)
--   reconciliations      the signed reports (evidence: append-only)

CREATE TABLE recon_state (
  fund_id           text PRIMARY KEY REFERENCES funds,
  bank_account      text NOT NULL,
  first_start       date NOT NULL,
  opening_bank      numeric(20,2) NOT NULL,
  opening_book      numeric(20,2) NOT NULL,
  statements        bigint NOT NULL CHECK (statements >= 0),
  last_statement_id text NOT NULL,
  last_end          date NOT NULL,
  last_closing      numeric(20,2) NOT NULL,
  recon_seq         bigint NOT NULL CHECK (recon_seq >= 0),
  matched_count     bigint NOT NULL CHECK (matched_count >= 0),
  matched_amount    numeric(24,2) NOT NULL CHECK (matched_amount >= 0),
  match_seq         bigint NOT NULL CHECK (match_seq >= 0)
);

CREATE TABLE bank_statements (
  fund_id      text NOT NULL REFERENCES funds,
  statement_id text NOT NULL,
  n            bigint NOT NULL CHECK (n > 0),
  bank_account text NOT NULL,
  period_start date NOT NULL,
  period_end   date NOT NULL CHECK (period_end >= period_start),
  opening      numeric(20,2) NOT NULL,
  closing      numeric(20,2) NOT NULL,
  entries      int NOT NULL CHECK (entries >= 0),
  file_sha256  text,
  message_id   text,
  event_id     text NOT NULL,
  PRIMARY KEY (fund_id, statement_id),
  UNIQUE (fund_id, n)
);

CREATE TABLE bank_entries (
  fund_id      text NOT NULL,
  entry_ref    text NOT NULL,
  statement_id text NOT NULL,
  n            bigint NOT NULL,
  idx          int NOT NULL CHECK (idx >= 0),
  booked_on    date NOT NULL,
  direction    text NOT NULL CHECK (direction IN ('credit', 'debit')),
  amount       numeric(20,2) NOT NULL CHECK (amount > 0),
  bank_ref     text,
  description  text,
  match_id     bigint,
  PRIMARY KEY (fund_id, entry_ref),
  FOREIGN KEY (fund_id, statement_id) REFERENCES bank_statements
);
CREATE INDEX bank_entries_unmatched ON bank_entries (fund_id, n, idx) WHERE match_id IS NULL;

CREATE TABLE recon_book_open (
  fund_id     text NOT NULL,
  journal_seq bigint NOT NULL,
  line        int NOT NULL,
  type        text NOT NULL,
  on_date     date NOT NULL,
  direction   text NOT NULL CHECK (direction IN ('credit', 'debit')),
  amount      numeric(20,2) NOT NULL CHECK (amount > 0),
  bank_ref    text,
  PRIMARY KEY (fund_id, journal_seq, line)
);
-- No index but the key: every cash posting writes a row here, and the
-- reads go by fund (the key's prefix) over what is still open.

CREATE TABLE recon_matches (
  fund_id      text NOT NULL,
  match_id     bigint NOT NULL,
  rule         text NOT NULL CHECK (rule IN ('reference', 'reference_group', 'amount_date')),
  recon_seq    bigint NOT NULL,
  statement_id text NOT NULL,
  entry_ref    text NOT NULL,
  journal_seq  bigint NOT NULL,
  line         int NOT NULL,
  PRIMARY KEY (fund_id, journal_seq, line)
);
CREATE INDEX recon_matches_match ON recon_matches (fund_id, match_id);

-- A report is kept as published (its signed JSON) with the figures the
-- list of reports shows beside it: a report can list a great many
-- unmatched items, and a jsonb copy of it would double the cost of
-- writing it (docs/performance.md).
CREATE TABLE reconciliations (
  fund_id           text NOT NULL REFERENCES funds,
  recon_seq         bigint NOT NULL,
  statement_id      text NOT NULL,
  period_end        date NOT NULL,
  as_of_journal_seq bigint NOT NULL,
  difference        numeric(20,2) NOT NULL,
  reconciled        boolean NOT NULL,
  unmatched_bank    int NOT NULL,
  unmatched_book    int NOT NULL,
  published         bytea NOT NULL,
  created_at        timestamptz NOT NULL,
  PRIMARY KEY (fund_id, recon_seq)
);

CREATE TRIGGER bank_statements_append_only BEFORE UPDATE OR DELETE ON bank_statements
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER bank_statements_no_truncate BEFORE TRUNCATE ON bank_statements
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER recon_matches_append_only BEFORE UPDATE OR DELETE ON recon_matches
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER recon_matches_no_truncate BEFORE TRUNCATE ON recon_matches
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER reconciliations_append_only BEFORE UPDATE OR DELETE ON reconciliations
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER reconciliations_no_truncate BEFORE TRUNCATE ON reconciliations
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- An entry's match is set once and never changed or undone.
CREATE FUNCTION fl_bank_entry_match_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.match_id IS NOT NULL OR NEW.match_id IS NULL
     OR (NEW.fund_id, NEW.entry_ref, NEW.statement_id, NEW.n, NEW.idx, NEW.booked_on, NEW.direction, NEW.amount)
        IS DISTINCT FROM (OLD.fund_id, OLD.entry_ref, OLD.statement_id, OLD.n, OLD.idx, OLD.booked_on, OLD.direction, OLD.amount)
     OR NEW.bank_ref IS DISTINCT FROM OLD.bank_ref OR NEW.description IS DISTINCT FROM OLD.description THEN
    RAISE EXCEPTION 'fundledger: a bank entry only ever changes by being matched once';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bank_entries_match_once BEFORE UPDATE ON bank_entries
  FOR EACH ROW EXECUTE FUNCTION fl_bank_entry_match_once();
CREATE TRIGGER bank_entries_append_only BEFORE DELETE ON bank_entries
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER bank_entries_no_truncate BEFORE TRUNCATE ON bank_entries
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

-- The cash postings already in the journal become book items. Their
-- business date is the date their event carried or, where it carried
-- none, the date of their recorded time in Asia/Shanghai (FUNDLEDGER_TZ's
-- default; docs/reconciliation.md).
INSERT INTO recon_book_open (fund_id, journal_seq, line, type, on_date, direction, amount, bank_ref)
SELECT p.fund_id, p.seq, p.line, j.type,
       coalesce(j.refs->>'approved_on', j.refs->>'paid_on', j.refs->>'received_on', j.refs->>'returned_on',
                j.refs->>'cancelled_on', j.refs->>'recovered_on', j.refs->>'charged_on',
                to_char(j.recorded_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'))::date,
       CASE p.side WHEN 'debit' THEN 'credit' ELSE 'debit' END,
       p.amount, nullif(j.refs->>'bank_ref', '')
  FROM postings p JOIN journal j ON j.fund_id = p.fund_id AND j.seq = p.seq
 WHERE p.account = 'cash';

REVOKE ALL ON bank_statements, recon_matches, reconciliations FROM PUBLIC;
GRANT SELECT, INSERT ON bank_statements, recon_matches, reconciliations TO fundledger_app;
GRANT SELECT, INSERT, UPDATE ON bank_entries TO fundledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON recon_state, recon_book_open TO fundledger_app;
