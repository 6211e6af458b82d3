-- Two lookups of grants for the read API (CONTRACT.md section 7), on a
-- table written once per approval (grants are updated in place when paid,
-- returned or cancelled, but neither indexed column ever changes, so those
-- updates stay HOT and pay nothing for these indexes):
--
-- - grants_beneficiary: a beneficiary's grants (GET .../beneficiaries/{ref},
--   the grants list and the journal filtered by beneficiary_ref), without
--   reading every grant of the fund.
-- - grants_id_bytes: the grants list is ordered and paged by grant_id in
--   byte order (COLLATE "C"), whatever the database's collation; the
--   primary key sorts by the database's collation, which may differ, and
--   a list that sorted all of a big fund's grants for each page would be
--   slow.
--
-- Their cost on inserts is measured in docs/performance.md ("The read
-- API's filters on a big fund").
CREATE INDEX grants_beneficiary ON grants (fund_id, beneficiary_ref);
CREATE INDEX grants_id_bytes ON grants (fund_id, grant_id COLLATE "C");
