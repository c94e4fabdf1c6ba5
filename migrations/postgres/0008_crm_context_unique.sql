-- One crm context per (xelion context, token endpoint, header prefix): a POST of
-- crm-integrations that repeats an existing crm context answers 409 with its id instead of
-- creating a copy, also when the copies are posted at the same time (the index decides).
-- Keep in step with ../sqlite/0008_crm_context_unique.sql.
-- Copies that an earlier version let in keep working: the later ones get a fragment on their
-- token endpoint (`#duplicate-<id>`), which is never sent in a request, so that each row is
-- distinct; `PUT .../crm-contexts/{id}` or `DELETE` tidies them up.
UPDATE crm_contexts
SET authorization_server_uri = authorization_server_uri || '#duplicate-' || id
WHERE id NOT IN (
    SELECT MIN(id) FROM crm_contexts
    GROUP BY xelion_context_id, authorization_server_uri, authorization_header_prefix
);
CREATE UNIQUE INDEX crm_contexts_identity
    ON crm_contexts (xelion_context_id, authorization_server_uri, authorization_header_prefix);
