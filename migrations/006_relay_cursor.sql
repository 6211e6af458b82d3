-- The journal is the outbox of ledger.<fund>.posted: a batch no longer
-- writes a posted message to `outbox` (an insert and, once published, a
-- delete per journal transaction). The relay publishes each fund's journal
-- transactions in seq order straight from journal and postings, and keeps
-- here, per fund, the last seq JetStream acknowledged. A fund with no row
-- has published nothing yet (its cursor is 0).
--
-- Not append-only: the relay moves the cursor forward after each publish.
-- It only ever moves forward (the relay writes GREATEST(old, new)), and
-- nothing in it is evidence: a cursor set back only re-publishes messages,
-- which the stream's duplicate window or the consumer drops by Nats-Msg-Id.
CREATE TABLE relay_cursor (
  fund_id       text PRIMARY KEY,
  published_seq bigint NOT NULL CHECK (published_seq >= 0)
);

-- An existing database may still hold posted messages in the outbox that
-- were committed but not yet published. Each fund's cursor starts just
-- before its first such message (they are always the end of the fund's
-- journal: the relay deleted acknowledged messages in order), or at its
-- head when there is none; then those rows go, as the relay now publishes
-- them from the journal, with the same subject, Nats-Msg-Id and payload.
-- Starting earlier than needed would only re-publish; never later.
INSERT INTO relay_cursor (fund_id, published_seq)
SELECT f.fund_id,
       coalesce((SELECT min(split_part(o.msg_id, ':', 3)::bigint) - 1
                   FROM outbox o
                  WHERE o.msg_id LIKE 'posted:%'
                    AND split_part(o.msg_id, ':', 2) = f.fund_id), f.head_seq)
  FROM funds f;

DELETE FROM outbox WHERE msg_id LIKE 'posted:%';

GRANT SELECT, INSERT, UPDATE ON relay_cursor TO fundledger_app;
