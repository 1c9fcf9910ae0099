-- Honest progress (tessera.progress). A job's expected tiles are its plan's tiles_total once
-- planned, before that the estimate its WorkflowSubmitted carried; one that ended early keeps
-- them and counts its undone rest as ended. Both are generated here, in one place, so the
-- workflow roll-up and the job views sum and show the same figures.
ALTER TABLE jobs ADD COLUMN tiles_estimate bigint;
ALTER TABLE jobs ADD COLUMN planned boolean NOT NULL DEFAULT false;
-- tiles/s of the running attempt over the last 30 s of its progress (log time)
ALTER TABLE jobs ADD COLUMN rate double precision;
UPDATE jobs SET planned = tiles_total > 0 OR state = 'SUCCEEDED';
ALTER TABLE jobs ADD COLUMN tiles_expected bigint GENERATED ALWAYS AS (
    CASE WHEN planned THEN tiles_total ELSE COALESCE(tiles_estimate, 0) END) STORED;
ALTER TABLE jobs ADD COLUMN tiles_ended bigint GENERATED ALWAYS AS (
    CASE WHEN state IN ('FAILED', 'CANCELLED', 'SKIPPED')
         THEN GREATEST(CASE WHEN planned THEN tiles_total ELSE COALESCE(tiles_estimate, 0) END
                       - tiles_done, 0)
         ELSE 0 END) STORED;
-- the total still holds an estimate that may change: a job not planned that may yet run
ALTER TABLE jobs ADD COLUMN estimated boolean GENERATED ALWAYS AS (
    NOT planned AND state IN ('PENDING', 'RUNNING')) STORED;

-- The workflow's figures are sums over its jobs (tiles_total is now the expected tiles); its
-- percent is computed from them when read, so the column of 0002 goes.
ALTER TABLE workflows DROP COLUMN percent;
ALTER TABLE workflows ADD COLUMN tiles_ended bigint NOT NULL DEFAULT 0;
ALTER TABLE workflows ADD COLUMN estimated boolean NOT NULL DEFAULT false;
ALTER TABLE workflows ADD COLUMN rate double precision;
UPDATE workflows w SET tiles_total = j.expected, tiles_ended = j.ended, estimated = j.estimated
FROM (SELECT workflow_id, sum(tiles_expected) AS expected, sum(tiles_ended) AS ended,
             bool_or(estimated) AS estimated
      FROM jobs GROUP BY workflow_id) j
WHERE w.workflow_id = j.workflow_id;

-- Progress samples, one per JobProgressed: the rate's window, a job's throughput series and
-- the tenant's (`delta`: tiles newly done since the attempt's previous sample).
CREATE TABLE job_progress (
    seq         bigint PRIMARY KEY,
    workflow_id uuid        NOT NULL,
    job_id      text        NOT NULL,
    tenant_id   uuid        NOT NULL,
    attempt     integer     NOT NULL,
    tiles_done  bigint      NOT NULL,
    tiles_total bigint      NOT NULL,
    delta       bigint      NOT NULL,
    at          timestamptz NOT NULL,
    FOREIGN KEY (workflow_id, job_id) REFERENCES jobs ON DELETE CASCADE
);
CREATE INDEX job_progress_by_job ON job_progress (workflow_id, job_id, attempt, at);
CREATE INDEX job_progress_by_tenant ON job_progress (tenant_id, at);
