-- A public key that signed snapshots is evidence too: once recorded it is
-- never changed or removed.
CREATE TRIGGER signing_keys_append_only BEFORE UPDATE OR DELETE ON signing_keys
  FOR EACH ROW EXECUTE FUNCTION fl_refuse_change();
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION fl_refuse_change();
