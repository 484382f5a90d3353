-- Payments reported not charged (their reversal acknowledged) are asked about again for a while,
-- in case an approval turns up that the processor should have refused; one whose late approval
-- is still being voided stays in this index until it is.
CREATE INDEX payments_not_charged ON payments(decided_ms)
    WHERE code IN ('not_charged', 'late_approval');
