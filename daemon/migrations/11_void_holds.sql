-- A void holds its payment before it asks the processor: while `voiding_ms` is set no refund
-- begins and no batch claims the payment, so the processor's void and CIP's record of it cannot
-- part. Deciding the payment lets go; a hold a stopped daemon left is carried to its end by the
-- sweep.
ALTER TABLE payments ADD COLUMN voiding_ms INTEGER;
CREATE INDEX payments_voiding ON payments(voiding_ms) WHERE voiding_ms IS NOT NULL;
