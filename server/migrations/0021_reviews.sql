-- Reviews: a verified buyer's stars (1 to 5) and optional text, one per
-- product per buyer, accepted only once an order holding the product was
-- delivered. Staff may hide one (the moderation log records it); a hidden
-- review counts in nothing shown to shoppers.

CREATE TABLE reviews (
    id BIGINT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    author TEXT NOT NULL,
    stars BIGINT NOT NULL CHECK (stars BETWEEN 1 AND 5),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    hidden_at BIGINT,
    UNIQUE (product_id, account_id)
);

-- A product's card: its visible reviews, newest first.
CREATE INDEX reviews_by_product ON reviews (product_id, created_at);
-- The console: new reviews across products.
CREATE INDEX reviews_by_time ON reviews (created_at, id);
