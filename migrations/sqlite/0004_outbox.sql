-- The outbox and delivery log (keep in step with ../postgres/0004_outbox.sql).
-- Times here are unix milliseconds (integers: compared and ordered on every claim).
-- A delivery is accepted once its row is committed; from then on it survives a crash.

CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    xelion_context_id INTEGER NOT NULL,
    crm_context_id    INTEGER NOT NULL,
    user_id           INTEGER NOT NULL REFERENCES user_credentials (id) ON DELETE CASCADE,
    -- one foreign key, the user's (each costs every insert): deleting an integration, a crm
    -- context or a user deletes its users' rows; mappings go only with their crm context
    mapping_id        INTEGER NOT NULL,
    xelion_event      TEXT    NOT NULL,
    call_id           TEXT    NOT NULL,
    -- the CallEvent's fields as Xelion sent them (a JSON object)
    event             TEXT    NOT NULL,
    -- pending, retrying, held, delivered, failed
    status            TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- held rows carry a far-future value, so that they never look due
    next_attempt_at   INTEGER NOT NULL,
    -- a lease: an instance is dispatching the row from memory until then
    claimed_until     INTEGER NOT NULL DEFAULT 0,
    -- why the row is failed or held
    reason            TEXT,
    -- when the retry endpoint queued a failed row again (0: never); its time-to-live counts
    -- from here then, not from created_at
    requeued_at       INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- Open work (due claims, the backlog): rows leave the index once delivered or failed.
CREATE INDEX deliveries_open ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying', 'held');
-- The delivery log of a tenant, newest first.
CREATE INDEX deliveries_tenant ON deliveries (xelion_context_id, id);
-- A user's rows: held ones released together, all deleted with the user.
CREATE INDEX deliveries_user ON deliveries (user_id);

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    -- the CRM's HTTP status; NULL when no answer came (timeout, connection error)
    status      INTEGER,
    duration_ms INTEGER NOT NULL,
    -- the start of the answer's body, at most 512 bytes
    excerpt     TEXT,
    error       TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);

-- One row per event already accepted: the attended-transfer duplicate (the same event again)
-- conflicts on the primary key and is dropped. Rows older than the window are pruned (and an
-- expired one is taken over by the next event with its key).
CREATE TABLE delivery_keys (
    crm_context_id INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    xelion_event   TEXT    NOT NULL,
    call_id        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (crm_context_id, user_id, xelion_event, call_id)
) WITHOUT ROWID;
CREATE INDEX delivery_keys_created_at ON delivery_keys (created_at);
