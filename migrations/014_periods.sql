-- Period close (CONTRACT.md section 11, docs/periods.md).
--
-- Every journal transaction has a reporting period, fixed when it is
-- posted. What a period report needs is kept as it is written, so a close
-- reads a few hundred rows however many transactions the month holds:
--   period_figures        running sums per fund, reporting period and figure
--                         (debits and credits per account; approved,
--                         cancelled, paid, returned and recovered per program;
--                         the count of period_beneficiaries rows per program,
--                         kept by the statement that inserts them)
--   period_beneficiaries  the distinct beneficiaries approved per fund,
--                         reporting period and program
--   period_adjustments    transactions posted to a later reporting period
--                         than their business period (prior-period
--                         adjustments)
--   period_allocations    allocation transactions, for the city-wide view's
--                         net totals
-- All four are derived from the journal and the reports (docs/audit.md says
-- how to recompute them); period_reports is evidence like snapshots: signed,
-- published, append-only.

CREATE TABLE fund_periods (
  fund_id     text PRIMARY KEY REFERENCES funds,
  last_closed text NOT NULL CHECK (last_closed ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  reports     bigint NOT NULL CHECK (reports > 0)
);

CREATE TABLE period_figures (
  fund_id text NOT NULL,
  period  text NOT NULL,
  kind    text NOT NULL CHECK (kind IN ('debits', 'credits', 'approved', 'cancelled', 'paid', 'returned', 'recovered', 'beneficiaries')),
  name    text NOT NULL,
  amount  numeric(24,2) NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (fund_id, period, kind, name)
);

CREATE TABLE period_beneficiaries (
  fund_id         text NOT NULL,
  period          text NOT NULL,
  program         text NOT NULL,
  beneficiary_ref text NOT NULL,
  PRIMARY KEY (fund_id, period, program, beneficiary_ref)
);

CREATE TABLE period_adjustments (
  fund_id         text NOT NULL,
  journal_seq     bigint NOT NULL,
  period          text NOT NULL,
  business_period text NOT NULL,
  type            text NOT NULL,
  amount          numeric(20,2) NOT NULL,
  PRIMARY KEY (fund_id, journal_seq)
);
CREATE INDEX period_adjustments_period ON period_adjustments (fund_id, period, journal_seq);

CREATE TABLE period_allocations (
  fund_id       text NOT NULL,
  journal_seq   bigint NOT NULL,
  period        text NOT NULL,
  allocation_id text NOT NULL,
  direction     text NOT NULL CHECK (direction IN ('in', 'out')),
  other_fund    text NOT NULL,
  amount        numeric(20,2) NOT NULL,
  PRIMARY KEY (fund_id, journal_seq)
);
CREATE INDEX period_allocations_period ON period_allocations (fund_id, period);

CREATE TABLE period_reports (
  fund_id           text NOT NULL REFERENCES funds,
  period            text NOT NULL,
  first             boolean NOT NULL,
  closed_by         text NOT NULL,
  approved_by       text NOT NULL,
  as_of_journal_seq bigint NOT NULL,
  body              jsonb NOT NULL,
  published         bytea NOT NULL,
  created_at        timestamptz NOT NULL,
  PRIMARY KEY (fund_id, period)
);
CREATE INDEX period_reports_period ON period_reports (period, fund_id);

CREATE TRIGGER period_reports_append_only BEFORE UPDATE OR DELETE ON period_reports
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER period_reports_no_truncate BEFORE TRUNCATE ON period_reports
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

REVOKE ALL ON period_reports FROM PUBLIC;
GRANT SELECT, INSERT ON period_reports TO fundledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON fund_periods, period_figures, period_beneficiaries,
  period_adjustments, period_allocations TO fundledger_app;

-- A database with a journal from before this migration: its transactions
-- get their figures when serve next takes the lease, in FUNDLEDGER_TZ
-- (postgres.Store.BackfillPeriods), as nothing was closed before them.
CREATE TABLE period_backfill (pending boolean PRIMARY KEY);
INSERT INTO period_backfill SELECT true WHERE EXISTS (SELECT 1 FROM journal);
GRANT SELECT, UPDATE, DELETE ON period_backfill TO fundledger_app;
