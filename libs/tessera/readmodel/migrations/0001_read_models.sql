-- Read models derived from the EVENTS log. Everything here can be dropped and rebuilt by replay.

CREATE TABLE workflows (
    workflow_id    uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    name           text        NOT NULL,
    state          text        NOT NULL,
    queue_position integer,
    jobs_total     integer     NOT NULL,
    jobs_finished  integer     NOT NULL DEFAULT 0,
    tiles_done     bigint      NOT NULL DEFAULT 0,
    tiles_total    bigint      NOT NULL DEFAULT 0,
    spec           jsonb       NOT NULL,
    submitted_at   timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    last_seq       bigint      NOT NULL
);
CREATE INDEX workflows_by_tenant ON workflows (tenant_id, submitted_at DESC, workflow_id);
CREATE INDEX workflows_by_tenant_seq ON workflows (tenant_id, last_seq);

CREATE TABLE jobs (
    workflow_id     uuid        NOT NULL REFERENCES workflows ON DELETE CASCADE,
    job_id          text        NOT NULL,
    tenant_id       uuid        NOT NULL,
    position        integer     NOT NULL,
    type            text        NOT NULL,
    branch          text        NOT NULL,
    slide           text,
    params          jsonb       NOT NULL,
    depends_on      jsonb       NOT NULL,
    retries         integer     NOT NULL,
    state           text        NOT NULL,
    attempt         integer     NOT NULL DEFAULT 0,
    tiles_done      bigint      NOT NULL DEFAULT 0,
    tiles_total     bigint      NOT NULL DEFAULT 0,
    tissue_fraction double precision,
    reason          text,
    summary         jsonb,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL,
    last_seq        bigint      NOT NULL,
    PRIMARY KEY (workflow_id, job_id)
);
CREATE INDEX jobs_by_tenant_seq ON jobs (tenant_id, last_seq);

CREATE TABLE job_history (
    seq         bigint PRIMARY KEY,
    workflow_id uuid        NOT NULL,
    job_id      text        NOT NULL,
    event_type  text        NOT NULL,
    state       text        NOT NULL,
    attempt     integer     NOT NULL,
    detail      text,
    at          timestamptz NOT NULL,
    FOREIGN KEY (workflow_id, job_id) REFERENCES jobs ON DELETE CASCADE
);
CREATE INDEX job_history_by_job ON job_history (workflow_id, job_id, seq);

-- A tenant can be ACTIVE and in the line at once: while others wait, an active tenant's new
-- workflows queue behind them (anti-starvation).
CREATE TABLE tenants (
    tenant_id  uuid PRIMARY KEY,
    state      text        NOT NULL,  -- ACTIVE, WAITING or IDLE
    active     boolean     NOT NULL,
    waiting    boolean     NOT NULL,
    position   integer,
    queued_at  timestamptz,
    updated_at timestamptz NOT NULL,
    last_seq   bigint      NOT NULL
);

CREATE TABLE projector_checkpoint (
    projection text PRIMARY KEY,
    last_seq   bigint NOT NULL
);
