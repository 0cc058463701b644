-- Why a refunded order came back.
ALTER TABLE orders ADD COLUMN return_reason TEXT;
