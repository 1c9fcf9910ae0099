import { expect, test } from "vitest";

import { describeMissing, isJobId, isWorkflowId } from "./ids";

const TENANT = "7c0a4b8e-2222-4a4a-9a9a-000000000002";

test("a workflow id is a UUID and a job id the gateway's identifier", () => {
  expect(isWorkflowId("0b5e3c1a-9f7d-4c2e-8a61-3d2f1e0c9b8a")).toBe(true);
  expect(isWorkflowId("not-a-uuid")).toBe(false);
  expect(isJobId("segment.v2_b-1")).toBe(true);
  expect(isJobId("a".repeat(64))).toBe(true);
  expect(isJobId("a".repeat(65))).toBe(false);
  expect(isJobId("-leading")).toBe(false);
  expect(isJobId("with space")).toBe(false);
});

test("a malformed id is no such workflow or job, not the validator's text", () => {
  const wf = describeMissing("workflow", "not-a-uuid", TENANT, true);
  expect(wf.title).toBe("No such workflow");
  expect(wf.message).toBe("'not-a-uuid' cannot be a workflow id (a workflow id is a UUID).");
  expect(describeMissing("job", "b a d", TENANT, true).title).toBe("No such job");
});

test("a workflow not found may be another tenant's", () => {
  const { message } = describeMissing("workflow", "0b5e3c1a-9f7d-4c2e-8a61-3d2f1e0c9b8a", TENANT, false);
  expect(message).toBe(`Workflow 0b5e3c1a-9f7d-4c2e-8a61-3d2f1e0c9b8a was not found for tenant ${TENANT}; it may belong to another tenant.`);
});
