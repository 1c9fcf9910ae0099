-- Per-tenant API tokens (TESSERA_GATEWAY_AUTH=token; `tessera tenants token`). Not a read model:
-- nothing in the log rebuilds it, so `tessera events replay` (which drops the read tables and the
-- migration record, then re-runs every migration) leaves it as it is, and this file must stay
-- idempotent. Only a digest of each token's secret is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id   text PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    digest     bytea       NOT NULL,
    label      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_tokens_by_tenant ON api_tokens (tenant_id, created_at);
