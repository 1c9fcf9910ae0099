-- Idempotency-Key of POST /v1/workflows: which request (its hash) first used a tenant's key, the
-- resource it made and the log sequence of its write, until the key expires. Written by the
-- gateway, not projected from the log: `tessera events replay` keeps this table (it is not in
-- READ_TABLES), so this migration must be safe to run again.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    resource text NOT NULL,
    seq bigint,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Summaries projected before JobSucceeded version 2 named a reused tissue mask by the server's
-- absolute path; from the same job's tenant and workflow on it is the path relative to the
-- results root, as the events now say (and as their upcaster reads old ones). A no-op on a
-- replay, whose jobs table is new.
UPDATE jobs
SET summary = jsonb_set(
    summary, '{mask_source}',
    to_jsonb(substr(summary->>'mask_source',
                    strpos(summary->>'mask_source', tenant_id::text || '/' || workflow_id::text || '/'))))
WHERE summary->>'mask_source' LIKE '/%'
  AND strpos(summary->>'mask_source', tenant_id::text || '/' || workflow_id::text || '/') > 1;
