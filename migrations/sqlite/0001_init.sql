-- xelion-cti schema, SQLite flavour (keep in step with ../postgres/0001_init.sql).
-- Times are text (`yyyy-MM-ddTHH:mm:ss.fffffffff`, UTC) or unix seconds; JSON is text.
-- Columns holding secrets contain `v1:<key id>:<base64>` AES-256-GCM ciphertexts whose
-- associated data is `<table>.<column>:<row id>`; they are written right after the row
-- is inserted (in the same transaction), which is why they are nullable.
-- AUTOINCREMENT: ids are never reused, so an old ciphertext never matches a new row.

CREATE TABLE xelion_contexts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    host            TEXT    NOT NULL,
    tenant          TEXT    NOT NULL,
    protocol        TEXT    NOT NULL DEFAULT 'https',
    admin_username  TEXT    NOT NULL,
    admin_password  TEXT,
    created_at      TEXT    NOT NULL
);
-- A host is a DNS name: compared case-insensitively.
CREATE UNIQUE INDEX xelion_contexts_host_tenant ON xelion_contexts (lower(host), tenant);

CREATE TABLE crm_contexts (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    xelion_context_id           INTEGER NOT NULL REFERENCES xelion_contexts (id) ON DELETE CASCADE,
    authorization_server_uri    TEXT    NOT NULL,
    authorization_header_prefix TEXT    NOT NULL,
    created_at                  TEXT    NOT NULL,
    UNIQUE (id, xelion_context_id)
);
CREATE INDEX crm_contexts_xelion_context ON crm_contexts (xelion_context_id);

CREATE TABLE user_credentials (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    xelion_context_id INTEGER NOT NULL REFERENCES xelion_contexts (id) ON DELETE CASCADE,
    crm_context_id    INTEGER NOT NULL,
    xelion_username   TEXT    NOT NULL,
    xelion_oid        TEXT    NOT NULL,
    client_id         TEXT,
    client_secret     TEXT,
    device_code       TEXT,
    refresh_token     TEXT,
    access_token      TEXT,
    created_at        TEXT    NOT NULL,
    -- the user's crm context belongs to the user's xelion context
    FOREIGN KEY (crm_context_id, xelion_context_id)
        REFERENCES crm_contexts (id, xelion_context_id) ON DELETE CASCADE,
    UNIQUE (crm_context_id, xelion_username)
);
CREATE INDEX user_credentials_xelion_context ON user_credentials (xelion_context_id);
CREATE INDEX user_credentials_oid ON user_credentials (crm_context_id, xelion_oid);

CREATE TABLE event_uri_mappings (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    crm_context_id       INTEGER NOT NULL REFERENCES crm_contexts (id) ON DELETE CASCADE,
    xelion_event         TEXT    NOT NULL,
    crm_resource_uri     TEXT    NOT NULL,
    crm_resource_payload TEXT,
    method               TEXT    NOT NULL DEFAULT 'POST',
    headers              TEXT,
    created_at           TEXT    NOT NULL
);
CREATE INDEX event_uri_mappings_crm_context ON event_uri_mappings (crm_context_id);

-- Admin API sessions: only the SHA-256 (hex) of the token is stored.
CREATE TABLE api_sessions (
    token_hash  TEXT    PRIMARY KEY NOT NULL,
    host        TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    valid_until INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX api_sessions_host_tenant ON api_sessions (lower(host), tenant);
CREATE INDEX api_sessions_valid_until ON api_sessions (valid_until);
