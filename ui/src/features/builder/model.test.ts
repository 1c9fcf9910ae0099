import type { JobView, WorkflowDetail } from "@/shared/api/types";

import { cloneOf, fromSpec, toSpec, type Draft } from "./model";

const draft = (): Draft => ({
  name: " slide 42 ",
  jobs: [
    { key: "a", id: "mask", type: "tissue_mask", branch: "qc", slide: "CMU-1-Small-Region.svs", depends_on: [], retries: 0, params: {} },
    { key: "b", id: "cells", type: "cell_segmentation", branch: "cells", slide: "CMU-1-Small-Region.svs", depends_on: ["mask"], retries: 1, params: { tile_size: "512", mpp: "" } },
    { key: "c", id: "load", type: "synthetic", branch: "cells", slide: "", depends_on: [], retries: 0, params: { tiles: "200", seconds_per_tile: "0.05" } },
  ],
});

test("a draft becomes the gateway's WorkflowSpec, typed and without empty fields", () => {
  expect(toSpec(draft())).toEqual({
    name: "slide 42",
    jobs: [
      { id: "mask", type: "tissue_mask", branch: "qc", slide: "CMU-1-Small-Region.svs" },
      { id: "cells", type: "cell_segmentation", branch: "cells", slide: "CMU-1-Small-Region.svs", params: { tile_size: 512 }, depends_on: ["mask"], retries: 1 },
      { id: "load", type: "synthetic", branch: "cells", params: { tiles: 200, seconds_per_tile: 0.05 } },
    ],
  });
});

test("JSON round-trips through the form", () => {
  const spec = toSpec(draft());
  expect(toSpec(fromSpec(JSON.parse(JSON.stringify(spec))))).toEqual(spec);
  expect(() => fromSpec({ jobs: "x" })).toThrow('"jobs" must be a list');
});

test("JSON read back keeps the keys of the jobs it had, by id", () => {
  const before = draft();
  const spec = toSpec(before);
  const after = fromSpec({ ...spec, jobs: [spec.jobs[2], spec.jobs[0], { id: "new", type: "synthetic" }] }, before);
  expect(after.jobs.map((j) => j.key)).toEqual(["c", "a", expect.not.stringMatching(/^[abc]$/)]);
});

test("a workflow is cloned into a draft under a new name, jobs in submission order", () => {
  const job = (id: string, position: number, extra: Partial<JobView> = {}): JobView => ({
    workflow_id: "w",
    id,
    type: "synthetic",
    branch: "main",
    position,
    slide: null,
    params: { tiles: 20, seconds_per_tile: 0.01 },
    depends_on: [],
    retries: 0,
    state: "FAILED",
    attempt: 1,
    progress: { tiles_done: 0, tiles_total: 0, percent: 0 },
    tissue_fraction: null,
    reason: null,
    summary: null,
    created_at: "2025-01-01T10:00:00Z",
    started_at: null,
    finished_at: null,
    updated_at: "2025-01-01T10:00:00Z",
    last_seq: 1,
    ...extra,
  });
  const source = {
    id: "w",
    name: "slide 42",
    jobs: [job("cells", 1, { depends_on: ["load"], retries: 2, branch: "b" }), job("load", 0)],
  } as unknown as WorkflowDetail;
  const draft = cloneOf(source);
  expect(draft.name).toBe("slide 42 (copy)");
  expect(toSpec(draft)).toEqual({
    name: "slide 42 (copy)",
    jobs: [
      { id: "load", type: "synthetic", branch: "main", params: { tiles: 20, seconds_per_tile: 0.01 } },
      { id: "cells", type: "synthetic", branch: "b", params: { tiles: 20, seconds_per_tile: 0.01 }, depends_on: ["load"], retries: 2 },
    ],
  });
});
