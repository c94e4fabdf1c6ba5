-- App contexts (external API calls): a Xelion app user's OAuth 2.0 credentials for one
-- external service, registered with POST /api/cti-app-context and used by
-- POST /api/external-api-endpoint/call. Keep in step with ../postgres/0007_app_contexts.sql.
--   host, tenant, xelion_username   the Xelion user (host and user name lower-cased);
--   authorization_server_uri        the token endpoint, exactly as registered;
--   client_secret, refresh_token,
--   access_token                    sealed (associated data `app_contexts.<column>:<row id>`);
--   access_token_hash               SHA-256 (hex) of the current access token, which callers
--                                   present: compared in constant time, never decrypted for it;
--   previous_access_token_hash,
--   previous_access_token_until     the access token a refresh replaced, accepted until then
--                                   (unix milliseconds) so a caller racing a refresh gets in;
--   access_token_expires_at         unix seconds; NULL for a registered token (used until the
--                                   service refuses it);
--   token_auth_method, parked_*, last_refresh_at, grants, credentials_version
--                                   the token actor's state, as on user_credentials (0003).
CREATE TABLE app_contexts (
    id                           INTEGER PRIMARY KEY AUTOINCREMENT,
    host                         TEXT    NOT NULL,
    tenant                       TEXT    NOT NULL,
    xelion_username              TEXT    NOT NULL,
    authorization_server_uri     TEXT    NOT NULL,
    authorization_header_prefix  TEXT    NOT NULL,
    client_id                    TEXT    NOT NULL,
    client_secret                TEXT,
    refresh_token                TEXT,
    access_token                 TEXT,
    access_token_hash            TEXT,
    access_token_expires_at      INTEGER,
    previous_access_token_hash   TEXT,
    previous_access_token_until  INTEGER,
    token_auth_method            TEXT,
    parked_error                 TEXT,
    parked_at                    INTEGER,
    last_refresh_at              INTEGER,
    grants                       INTEGER NOT NULL DEFAULT 0,
    credentials_version          INTEGER NOT NULL DEFAULT 0,
    created_at                   TEXT    NOT NULL,
    updated_at                   TEXT    NOT NULL
);
CREATE UNIQUE INDEX app_contexts_key
    ON app_contexts (host, tenant, xelion_username, authorization_server_uri);
