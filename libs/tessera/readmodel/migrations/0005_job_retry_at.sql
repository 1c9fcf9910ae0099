-- When a PENDING job's next attempt is due: set by JobRetryScheduled.retry_at, cleared by the
-- job's next state change, so only a job waiting out its backoff has one (the API says until
-- when). A backoff already running at the upgrade is not known; a replay fills it in.
ALTER TABLE jobs ADD COLUMN retry_at timestamptz;
-- "all MAX_WORKERS slots are busy": the jobs running now, counted from a small partial index
CREATE INDEX jobs_running ON jobs (workflow_id) WHERE state = 'RUNNING';
