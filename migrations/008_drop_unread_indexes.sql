-- Two indexes that no query of the ledger reads, paid for on every posting:
-- journal (event_id) and postings (fund_id, account, seq). The inbox finds
-- an envelope id; a journal page, a statement, point-in-time balances and
-- verify all read a fund's journal and postings by (fund_id, seq) ranges,
-- which the primary keys serve. Measured on a batch of 20,000 transactions
-- here: journal and postings inserts took about half as long without them
-- (docs/performance.md). A reader that needs one of them back (by account
-- over a whole fund's history, say) should add the index it needs, sized
-- to it, such as a partial index on one account.
DROP INDEX IF EXISTS journal_event_id;
DROP INDEX IF EXISTS postings_account;
