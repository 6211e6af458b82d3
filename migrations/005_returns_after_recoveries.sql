-- A bank may return a payment of a grant from which money was already
-- recovered: the contract refuses a return only for more than the payment
-- still holds. The check "paid - returned - recovered >= 0" refused such a
-- return as a database error; what always holds is that no more is
-- returned than was paid, and recoveries are never negative (a recovery
-- itself is limited to the grant's net payments by the posting rules).
DO $$
DECLARE c text;
BEGIN
  FOR c IN
    SELECT conname FROM pg_constraint
    WHERE conrelid = 'grants'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%recovered%'
  LOOP
    EXECUTE format('ALTER TABLE grants DROP CONSTRAINT %I', c);
  END LOOP;
END $$;

ALTER TABLE grants
  ADD CONSTRAINT grants_returned_within_paid CHECK (returned >= 0 AND paid - returned >= 0),
  ADD CONSTRAINT grants_recovered_not_negative CHECK (recovered >= 0);
