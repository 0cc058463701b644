-- Group deals (team purchase). A host sets a deal on a variant: a team
-- size, a team price and a window. Each member of a team holds one unit,
-- taken from the variant's stock when they join (so the stock equation
-- gains a term: units held by open teams), and an authorization at the
-- team price. A full team is captured and becomes paid orders; a team
-- whose window closes first is voided and its units go back.

CREATE TABLE group_deals (
    id BIGINT PRIMARY KEY,
    sku TEXT NOT NULL REFERENCES variants (sku),
    product_id TEXT NOT NULL,
    team_size BIGINT NOT NULL,
    price_minor BIGINT NOT NULL,
    regular_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- Units the deal may sell in all; `taken` counts units held by open
    -- teams plus units sold.
    stock_cap BIGINT NOT NULL,
    taken BIGINT NOT NULL,
    sold BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (taken >= 0 AND taken <= stock_cap AND sold >= 0 AND sold <= taken)
);

CREATE TABLE group_teams (
    id BIGINT PRIMARY KEY,
    deal_id BIGINT NOT NULL REFERENCES group_deals (id),
    -- 'open'; 'capturing' (full, every authorization being captured);
    -- 'complete' (captured, orders placed); 'voided'.
    status TEXT NOT NULL,
    started_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
);

CREATE INDEX group_teams_by_status ON group_teams (status);

CREATE TABLE group_members (
    team_id BIGINT NOT NULL REFERENCES group_teams (id),
    account_id BIGINT NOT NULL,
    -- The order the member's purchase becomes; its id also keys the
    -- gateway calls, so a retried capture or void charges once.
    order_id BIGINT NOT NULL,
    -- 'authorizing', 'authorized', 'captured' or 'voided'.
    status TEXT NOT NULL,
    payment_ref TEXT,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, account_id)
);

CREATE UNIQUE INDEX group_members_by_order ON group_members (order_id);
CREATE INDEX group_members_by_account ON group_members (account_id);
