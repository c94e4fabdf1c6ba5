-- The Xelion event session of each tenant: its userSpace and its token (sealed, associated
-- data `event_sessions.authentication:<xelion context id>`), so that after a crash the next
-- login can hand the old token back and Xelion ends the old session instead of refusing a
-- second one with the same userSpace (10005).
CREATE TABLE event_sessions (
    xelion_context_id BIGINT PRIMARY KEY REFERENCES xelion_contexts (id) ON DELETE CASCADE,
    user_space        TEXT   NOT NULL,
    authentication    TEXT,
    updated_at        TEXT   NOT NULL
);
