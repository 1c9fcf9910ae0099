import type { JobState, JobView, WorkflowDetail, WorkflowState, WorkflowView } from "@/shared/api/types";

import { mergeUpdate } from "./mergeUpdate";

const AT = "2025-01-01T10:00:00Z";

function job(id: string, state: JobState, done: number, seq: number): JobView {
  return {
    workflow_id: "w",
    id,
    type: "synthetic",
    branch: id,
    position: 0,
    slide: null,
    params: {},
    depends_on: [],
    retries: 0,
    state,
    attempt: 1,
    progress: { tiles_done: done, tiles_total: 10, percent: done * 10 },
    tissue_fraction: null,
    reason: null,
    summary: null,
    created_at: AT,
    started_at: AT,
    finished_at: null,
    updated_at: AT,
    last_seq: seq,
  };
}

function view(state: WorkflowState, done: number, seq: number): WorkflowView {
  return {
    id: "w",
    name: "w",
    state,
    queue_position: null,
    jobs_total: 3,
    jobs_finished: 0,
    progress: { tiles_done: done, tiles_total: 30, percent: (done * 100) / 30 },
    submitted_at: AT,
    started_at: AT,
    finished_at: null,
    updated_at: AT,
    last_seq: seq,
  };
}

const cached: WorkflowDetail = {
  ...view("RUNNING", 3, 12),
  jobs: [job("a", "RUNNING", 1, 10), job("b", "RUNNING", 2, 12), job("c", "PENDING", 0, 5)],
  lanes: { a: ["a"], b: ["b"], c: ["c"] },
};

test("an update replaces the jobs that changed, keeps the others and the lanes", () => {
  const merged = mergeUpdate(cached, {
    type: "workflow",
    seq: 15,
    workflow: view("RUNNING", 6, 15),
    jobs: [job("a", "RUNNING", 4, 15)], // only a changed after 12
    jobs_since: 12,
  });
  expect(merged.progress.tiles_done).toBe(6);
  expect(merged.last_seq).toBe(15);
  expect(merged.jobs.map((j) => [j.id, j.progress.tiles_done, j.last_seq])).toEqual([
    ["a", 4, 15],
    ["b", 2, 12],
    ["c", 0, 5],
  ]);
  expect(merged.lanes).toBe(cached.lanes);
});

test("an update older than what is cached changes nothing", () => {
  const merged = mergeUpdate(cached, {
    type: "workflow",
    seq: 11,
    workflow: view("RUNNING", 1, 11),
    jobs: [job("b", "PENDING", 0, 11), job("a", "RUNNING", 1, 10)],
    jobs_since: 0,
  });
  expect(merged).toEqual(cached);
});

test("a streamed job keeps its waiting reason while its state stays, and drops it when it moves", () => {
  const waiting = { kind: "lane" as const, words: "waits for job 'a' ahead of it in branch 'c' (RUNNING)", details: { jobs: ["a"] } };
  const withReason: WorkflowDetail = { ...cached, jobs: cached.jobs.map((j) => (j.id === "c" ? { ...j, waiting } : j)) };
  const still = mergeUpdate(withReason, {
    type: "workflow",
    seq: 16,
    workflow: view("RUNNING", 3, 16),
    jobs: [{ ...job("c", "PENDING", 0, 16), reason: "note" }],
    jobs_since: 12,
  });
  expect(still.jobs[2]?.waiting).toEqual(waiting);
  const started = mergeUpdate(withReason, {
    type: "workflow",
    seq: 17,
    workflow: view("RUNNING", 3, 17),
    jobs: [job("c", "RUNNING", 0, 17)],
    jobs_since: 12,
  });
  expect(started.jobs[2]?.waiting).toBeUndefined();
});
