-- CloudEvents in binary content mode carry their attributes in NATS
-- headers and only data in the body. A held event must keep its headers to
-- be decoded again when what it waits for arrives, and a rejection keeps
-- them beside the raw body (CONTRACT.md section 2). Null for a structured
-- event.
ALTER TABLE held ADD COLUMN header jsonb;
ALTER TABLE rejections ADD COLUMN raw_headers jsonb;
