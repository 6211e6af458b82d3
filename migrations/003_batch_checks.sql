-- Checks that cost one query per batch instead of one per row.
--
-- The deferred foreign key postings -> journal was checked row by row at
-- commit (SELECT ... FOR KEY SHARE per posting, which also rewrote every new
-- journal row to lock it): a quarter of each batch's time. Journal rows are
-- now written first and one statement trigger on postings checks, for all
-- the rows of the statement at once, that each transaction they belong to
-- is in the journal, was written by this same database transaction, gets all
-- its postings in this statement, has at least two, and balances. Per-row
-- foreign keys from the hot tables to funds and grants go for the same
-- reason; the application writes a fund before anything that names it, and
-- `fundledger verify` checks the journal against the funds.
ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_fund_id_seq_fkey;
ALTER TABLE journal  DROP CONSTRAINT IF EXISTS journal_fund_id_fkey;
ALTER TABLE grants   DROP CONSTRAINT IF EXISTS grants_fund_id_fkey;
ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_fund_id_grant_id_fkey;
ALTER TABLE balances DROP CONSTRAINT IF EXISTS balances_fund_id_fkey;
DROP TRIGGER IF EXISTS journal_balanced ON journal;
DROP TRIGGER IF EXISTS postings_closed ON postings;

-- The planner knows nothing of a transition table's size and little of a
-- young table's: nested loops over the primary keys are always right here,
-- a merge join that sorts all of postings never is.
CREATE FUNCTION fl_postings_check() RETURNS trigger LANGUAGE plpgsql
  SET enable_mergejoin = off SET enable_hashjoin = off AS $$
DECLARE bad record;
BEGIN
  SELECT n.fund_id, n.seq INTO bad
    FROM (SELECT DISTINCT fund_id, seq FROM new_rows) n
    LEFT JOIN journal j ON j.fund_id = n.fund_id AND j.seq = n.seq
   WHERE j.seq IS NULL OR j.xmin <> pg_current_xact_id()::xid
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fundledger: postings of %/% do not belong to a transaction written with them', bad.fund_id, bad.seq
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT n.fund_id, n.seq, n.dr, n.cr INTO bad
    FROM (SELECT fund_id, seq, count(*) AS lines,
                 coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS dr,
                 coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS cr
            FROM new_rows GROUP BY fund_id, seq) n
   WHERE n.dr <> n.cr OR n.lines < 2
      OR (SELECT count(*) FROM postings p WHERE p.fund_id = n.fund_id AND p.seq = n.seq) <> n.lines
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fundledger: transaction %/% does not balance or is incomplete (debits %, credits %)',
      bad.fund_id, bad.seq, bad.dr, bad.cr USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER postings_check AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fl_postings_check();
