-- The workflow list sorts by name and by state as well as by submission (workflows_by_tenant):
-- one index per sort, each the tenant's rows in that order, ties broken by id. Names sort
-- without regard to case and in byte order, the same on every server (tessera.readmodel.listing).
CREATE INDEX workflows_by_tenant_name ON workflows (tenant_id, (lower(name) COLLATE "C"), workflow_id);
CREATE INDEX workflows_by_tenant_state ON workflows (tenant_id, state, submitted_at DESC, workflow_id DESC);
