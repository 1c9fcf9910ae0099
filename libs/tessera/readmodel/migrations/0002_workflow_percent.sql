-- A workflow's percent weighs its jobs equally (a job not yet planned counts as 0 % instead of
-- being left out, so the percent never falls when a later job gets its tiles). Existing rows
-- are filled from their jobs; the projector keeps it current from here on.
ALTER TABLE workflows ADD COLUMN percent double precision NOT NULL DEFAULT 0;
UPDATE workflows w SET percent = j.percent
FROM (
    SELECT workflow_id,
           100.0 * avg(CASE WHEN state IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED') THEN 1.0
                            WHEN tiles_total > 0 THEN tiles_done::double precision / tiles_total
                            ELSE 0.0 END) AS percent
    FROM jobs GROUP BY workflow_id
) j
WHERE w.workflow_id = j.workflow_id;
