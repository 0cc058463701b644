-- The catalog: products and their variants (SKUs) with stock. Prices are
-- integer minor units with the currency beside them.

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    model TEXT NOT NULL,
    position BIGINT NOT NULL,
    archived_at BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE variants (
    sku TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    options TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    position BIGINT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0)
);

CREATE INDEX variants_by_product ON variants (product_id);
