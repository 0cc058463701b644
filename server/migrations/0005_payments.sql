-- The payment gateway's reference for a paid order (authorization id).
ALTER TABLE orders ADD COLUMN payment_ref TEXT;
