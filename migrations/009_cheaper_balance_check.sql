-- The balance check of migration 003, without its most expensive part. It
-- counted each new transaction's postings in the whole table (one index
-- scan per transaction) to refuse postings added to a transaction in a
-- later statement. The same follows from the line numbers: every
-- statement must bring a transaction's lines numbered exactly 0..n-1 (n at
-- least 2), balanced; the primary key (fund_id, seq, line) refuses a
-- second line 0, so a later statement cannot add lines to a transaction
-- (lines from n on are refused here, lines below n by the key), and the
-- journal row must have been written by the same database transaction.
CREATE OR REPLACE FUNCTION fl_postings_check() RETURNS trigger LANGUAGE plpgsql
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
    FROM (SELECT fund_id, seq, count(*) AS lines, min(line) AS lo, max(line) AS hi,
                 coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS dr,
                 coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS cr
            FROM new_rows GROUP BY fund_id, seq) n
   WHERE n.dr <> n.cr OR n.lines < 2 OR n.lo <> 0 OR n.hi <> n.lines - 1
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'fundledger: transaction %/% does not balance or is incomplete (debits %, credits %)',
      bad.fund_id, bad.seq, bad.dr, bad.cr USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
