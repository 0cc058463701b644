-- Group deals: authorizations the engine gave up on (a timeout, a restart
-- mid-authorization, a hold the store failed to record) may still hold a
-- shopper's money at the provider. Each is recorded here, with the key its
-- authorization was asked under, until the provider confirms the void; the
-- member leaves the team and their unit goes back at once. The member's
-- idempotency key stays, so their retry under it creates no second hold.
-- Members' status gains 'captured' (recorded per capture), 'refunded', and
-- teams' 'failing' and 'failed' (a capture declined): both are TEXT.

CREATE TABLE group_void_pending (
    order_id BIGINT PRIMARY KEY,
    team_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    -- 'pending' until the provider confirms the void, then 'voided'.
    status TEXT NOT NULL,
    -- Unknown when the authorization's answer was lost: the engine asks
    -- again under the same key, and the provider answers the same hold.
    payment_ref TEXT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    voided_at BIGINT
);

CREATE INDEX group_void_pending_by_status ON group_void_pending (status);
