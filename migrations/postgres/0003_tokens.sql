-- Per-user OAuth token state, kept so that a restart neither refreshes every user at once nor
-- forgets who needs re-authorisation. The access token itself stays in `access_token`
-- (sealed, associated data `user_credentials.access_token:<row id>`); beside it, in clear:
--   access_token_expires_at  when it stops working (unix seconds);
--   parked_error, parked_at  the OAuth error that parked the user and when (unix seconds);
--                            cleared when the credentials are updated;
--   last_refresh_at          the last successful grant (unix seconds);
--   grants                   successful grants made for this user;
--   credentials_version      bumped by every credential update, so a grant that ran on the
--                            old credentials does not overwrite the new ones.
ALTER TABLE user_credentials ADD COLUMN access_token_expires_at BIGINT;
ALTER TABLE user_credentials ADD COLUMN parked_error TEXT;
ALTER TABLE user_credentials ADD COLUMN parked_at BIGINT;
ALTER TABLE user_credentials ADD COLUMN last_refresh_at BIGINT;
ALTER TABLE user_credentials ADD COLUMN grants BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_credentials ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
-- The client authentication the token endpoint took (`form` or `basic`); NULL: not known yet
-- (form fields are tried first).
ALTER TABLE crm_contexts ADD COLUMN token_auth_method TEXT;
