-- The access log (CONTRACT.md section 9): one row per read API request
-- that presented a bearer token, valid or not. Like the journal it is
-- evidence: triggers refuse UPDATE, DELETE and TRUNCATE, and the
-- service's role may only SELECT and INSERT. sub and roles are the
-- token's only when its signature verified (also when it had expired);
-- otherwise they are empty, so nobody can put another's name in the log.
CREATE TABLE access_log (
  seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time   timestamptz NOT NULL,
  sub    text NOT NULL DEFAULT '',
  roles  text[] NOT NULL DEFAULT '{}',
  method text NOT NULL,
  path   text NOT NULL,
  status smallint NOT NULL
);

CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();

REVOKE ALL ON access_log FROM PUBLIC;
GRANT SELECT, INSERT ON access_log TO fundledger_app;
