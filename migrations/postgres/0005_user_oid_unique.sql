-- A Xelion oid names one user: at most one registration per oid in a crm context, as for the
-- user name. Registrations that an earlier version let share an oid keep the oldest; the later
-- ones get their oid marked (`<oid>-duplicate-<id>`), which matches no event, so they are
-- routed by user name only until `PUT /api/users/{id}` sets their real oid.
UPDATE user_credentials
SET xelion_oid = xelion_oid || '-duplicate-' || id
WHERE id NOT IN (
    SELECT MIN(id) FROM user_credentials GROUP BY crm_context_id, xelion_oid
);
DROP INDEX user_credentials_oid;
CREATE UNIQUE INDEX user_credentials_crm_oid ON user_credentials (crm_context_id, xelion_oid);
