-- Point-in-time balances start from the nearest snapshot at or before the
-- asked sequence; without this index that lookup reads every snapshot row
-- of the fund.
CREATE INDEX snapshots_as_of ON snapshots (fund_id, as_of_journal_seq);
