-- Two partial indexes on the journal for the read API's filters
-- (CONTRACT.md section 7) that a walk of a fund's journal in seq order
-- cannot answer quickly on a big fund. Each holds only the rows it is for,
-- so most of what the intake writes pays nothing for it but the test of
-- its WHERE clause. Measured on a fund of a million transactions in
-- docs/performance.md ("The read API's filters on a big fund"), with what
-- each costs a COPY of 20,000 journal rows.
--
-- - journal_bank_ref: the transactions that carry a bank reference
--   (contributions, payments, recoveries, bank charges), by reference. A
--   bank reference names one transaction or a few (a bank's bulk
--   payment): without the index, looking one up read the fund's whole
--   journal (over a second for a million transactions).
-- - journal_rare_type: the transactions of every type but the three that
--   make the bulk of a fund's journal (grants approved one at a time and
--   in batches, and their payments), by type and seq. A page of a rare
--   type (returns, cancellations, recoveries, contributions, allocations,
--   bank charges), or of a type the fund never had, read the whole
--   journal too. The three common types are found quickly by walking the
--   primary key. The read's query repeats this WHERE clause word for word
--   (ledger/postgres/reads_more.go, commonTypes), so the planner can use
--   the index.
CREATE INDEX journal_bank_ref ON journal (fund_id, (refs->>'bank_ref'), seq) WHERE refs ? 'bank_ref';
CREATE INDEX journal_rare_type ON journal (fund_id, type, seq)
  WHERE type NOT IN ('grant.approved', 'grant.batch.approved', 'grant.disbursed');
