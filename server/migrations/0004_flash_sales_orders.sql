-- Flash sales and orders. A sale's units leave the variant's stock when it
-- is created and the unsold ones return when it closes, so at every moment:
-- variant stock + units held by open sales + units in orders = what there was.

CREATE TABLE flash_sales (
    id BIGINT PRIMARY KEY,
    sku TEXT NOT NULL REFERENCES variants (sku),
    product_id TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    sold BIGINT NOT NULL,
    per_buyer_limit BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    closed_at BIGINT,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (sold >= 0 AND sold <= quantity)
);

CREATE TABLE orders (
    id BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    flash_sale_id BIGINT,
    idempotency_key TEXT,
    request_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX orders_by_idempotency_key ON orders (account_id, idempotency_key);
CREATE INDEX orders_by_account ON orders (account_id);
CREATE INDEX orders_by_flash_sale ON orders (flash_sale_id);

CREATE TABLE order_lines (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
