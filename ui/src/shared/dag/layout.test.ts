import { layoutDag, type DagJob } from "./layout";

const job = (id: string, branch: string, depends_on: string[] = []): DagJob => ({ id, branch, type: "synthetic", depends_on });

test("one lane per branch in order of appearance; lanes and dependencies push jobs right", () => {
  const layout = layoutDag([job("mask", "qc"), job("cells", "cells", ["mask"]), job("load", "cells"), job("report", "qc", ["load"])]);
  expect(layout.lanes.map((l) => l.name)).toEqual(["qc", "cells"]);
  const column = Object.fromEntries(layout.placed.map((p) => [p.job.id, p.column]));
  // cells waits for mask; load follows cells in its lane; report waits for load
  expect(column).toEqual({ mask: 0, cells: 1, load: 2, report: 3 });
  expect(layout.columns).toBe(4);
  expect(layout.cyclic).toBe(false);
  expect(layout.edges.map((e) => `${e.kind}:${e.source}->${e.target}`).sort()).toEqual([
    "dependency:load->report",
    "dependency:mask->cells",
    "lane:cells->load",
    "lane:mask->report",
  ]);
});

test("a cycle is reported and still laid out", () => {
  const layout = layoutDag([job("a", "x", ["b"]), job("b", "y", ["a"])]);
  expect(layout.cyclic).toBe(true);
  expect(layout.placed).toHaveLength(2);
});

test("unknown dependencies draw no edge", () => {
  expect(layoutDag([job("a", "main", ["ghost"])]).edges).toEqual([]);
});
