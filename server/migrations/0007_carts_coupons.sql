-- Carts, checkout and coupons. Cart lines hold units taken from the
-- variant's stock until they are checked out, removed or expire, so the
-- stock equation gains a term: variant stock + units in carts + units held
-- by open sales + units in live orders = what there was.

CREATE TABLE cart_lines (
    account_id BIGINT NOT NULL,
    sku TEXT NOT NULL REFERENCES variants (sku),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    held_until BIGINT NOT NULL,
    PRIMARY KEY (account_id, sku)
);

CREATE INDEX cart_lines_by_hold ON cart_lines (held_until);

CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    -- 'percent' (amount is 1 to 100) or 'amount' (amount in minor units).
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    min_order_minor BIGINT NOT NULL,
    max_redemptions BIGINT,
    per_buyer_limit BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    pinned_at BIGINT,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- 'flash_sale', 'cart' or 'buy_now'.
ALTER TABLE orders ADD COLUMN source TEXT NOT NULL DEFAULT 'flash_sale';
ALTER TABLE orders ADD COLUMN coupon_code TEXT;
ALTER TABLE orders ADD COLUMN discount_minor BIGINT NOT NULL DEFAULT 0;
-- Why a cancelled order was cancelled: 'declined: …', 'payment_timeout', 'expired'.
ALTER TABLE orders ADD COLUMN failure TEXT;

CREATE INDEX orders_by_coupon ON orders (coupon_code);
