-- A group's (a party's) shared cart. Like cart_lines, each line holds units
-- taken from the variant's stock until it is checked out, removed or
-- expires, so the stock equation gains one more term: variant stock +
-- units in carts + units in shared carts (lines not in an order) + units held by open sales +
-- units in live orders = what there was. Groups live in memory, so every
-- line goes back to stock when the server starts.

CREATE TABLE shared_cart_lines (
    id BIGINT PRIMARY KEY,
    -- The group's u64 id, stored as its two's-complement BIGINT.
    group_id BIGINT NOT NULL,
    sku TEXT NOT NULL REFERENCES variants (sku),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    held_until BIGINT NOT NULL,
    added_by BIGINT NOT NULL,
    added_by_name TEXT NOT NULL,
    payer BIGINT NOT NULL,
    payer_name TEXT NOT NULL,
    -- Set while the line is in an order being paid: its units are the
    -- order's then, and the line comes back into the cart (same id, same
    -- adder and payer) if that payment fails. NULL while in the cart.
    order_id BIGINT
);

CREATE INDEX shared_cart_lines_by_group ON shared_cart_lines (group_id);
CREATE INDEX shared_cart_lines_by_order ON shared_cart_lines (order_id);
