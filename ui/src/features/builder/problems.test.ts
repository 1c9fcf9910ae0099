import type { Draft } from "./model";
import { checkDraft, describe, findCycle, jsonSyntaxError, keepServerProblems, mergeProblems, place, readJson, readServerProblems, type Problem } from "./problems";

const SLIDE = "CMU-1-Small-Region.svs";
const draft = (): Draft => ({
  name: "slide 42",
  jobs: [
    { key: "m", id: "mask", type: "tissue_mask", branch: "qc", slide: SLIDE, depends_on: [], retries: 0, params: {} },
    { key: "c", id: "cells", type: "cell_segmentation", branch: "cells", slide: `./${SLIDE}`, depends_on: ["mask"], retries: 1, params: { tile_size: "512" } },
    { key: "l", id: "load", type: "synthetic", branch: "cells", slide: "", depends_on: [], retries: 0, params: { tiles: "200" } },
  ],
});
const texts = (problems: Problem[]) => problems.map(describe);
const at = (problems: Problem[]) => problems.map((p) => [p.target, p.message]);

test("the builder's problems name the job and the field", () => {
  const d = draft();
  d.jobs[0]!.slide = "";
  d.jobs[1]!.params = { tile_size: "500", colour: "red" };
  d.jobs[2]!.id = "cells";
  d.jobs[2]!.depends_on = ["ghost"];
  expect(at(checkDraft(d))).toEqual([
    [{ kind: "job", key: "m", field: "slide" }, "a tissue mask job needs a slide"],
    [{ kind: "job", key: "c", field: "id" }, 'another job has the id "cells"'],
    [{ kind: "job", key: "c", field: "params.tile_size" }, "a multiple of 16"],
    [{ kind: "job", key: "c", field: "params.colour" }, "unknown parameter"],
    [{ kind: "job", key: "l", field: "id" }, 'another job has the id "cells"'],
    [{ kind: "job", key: "l", field: "depends_on" }, 'unknown job "ghost"'],
  ]);
  expect(checkDraft(draft())).toEqual([]);
});

test("a cycle is one workflow problem that names its jobs in the order they would run", () => {
  const d = draft();
  d.jobs[0]!.depends_on = ["cells"];
  const problems = checkDraft(d);
  expect(texts(problems)).toEqual(["the dependencies form a cycle: mask -> cells -> mask"]);
  expect(problems[0]!.target).toEqual({ kind: "workflow", field: "cycle" });
  expect(problems[0]!.cycle).toEqual(["mask", "cells", "mask"]);
  expect(findCycle([{ id: "a", depends_on: ["a"] }])).toBeNull(); // its own problem, not a cycle
  expect(findCycle([
    { id: "a", depends_on: ["c"] },
    { id: "b", depends_on: ["a"] },
    { id: "c", depends_on: ["b"] },
  ])).toEqual(["a", "b", "c", "a"]);
});

test("the gateway's reasons go to the jobs and fields they name", () => {
  const problems = readServerProblems(draft(), [
    "job 'load' params.tiles: Input should be greater than or equal to 1",
    "job 'cells' depends on unknown job 'ghost'",
    "duplicate job id 'mask'",
    "jobs.2.retries: Input should be less than or equal to 5",
    "name: String should have at most 200 characters",
    "something else entirely",
  ]);
  expect(at(problems)).toEqual([
    [{ kind: "job", key: "l", field: "params.tiles" }, "Input should be greater than or equal to 1"],
    [{ kind: "job", key: "c", field: "depends_on" }, 'unknown job "ghost"'],
    [{ kind: "job", key: "m", field: "id" }, 'another job has the id "mask"'],
    [{ kind: "job", key: "l", field: "retries" }, "Input should be less than or equal to 5"],
    [{ kind: "workflow", field: "name" }, "String should have at most 200 characters"],
    [{ kind: "workflow" }, "something else entirely"],
  ]);
  expect(describe(problems[0]!)).toBe("params.tiles: Input should be greater than or equal to 1");
});

test("a refused slide marks the slide of every job that names it, however spelled", () => {
  const problems = readServerProblems(draft(), [`slide '${SLIDE}': no such file under the data root`]);
  expect(at(problems)).toEqual([
    [{ kind: "job", key: "m", field: "slide" }, `no such file under the data root (${SLIDE})`],
    [{ kind: "job", key: "c", field: "slide" }, `no such file under the data root (${SLIDE})`],
  ]);
  const other = readServerProblems(draft(), ["slide 'uploads/x/a.svs': no such file under the data root"]);
  expect(at(other)).toEqual([[{ kind: "workflow" }, "slide 'uploads/x/a.svs': no such file under the data root"]]);
});

test("several refused slides, as one 422 names them, each mark their own jobs at once", () => {
  const d = draft();
  d.jobs[2]!.slide = "gone.svs";
  const problems = readServerProblems(d, [`slide '${SLIDE}': not a slide format any reader here opens`, "slide 'gone.svs': no such file under the data root"]);
  expect(at(problems)).toEqual([
    [{ kind: "job", key: "m", field: "slide" }, `not a slide format any reader here opens (${SLIDE})`],
    [{ kind: "job", key: "c", field: "slide" }, `not a slide format any reader here opens (${SLIDE})`],
    [{ kind: "job", key: "l", field: "slide" }, "no such file under the data root (gone.svs)"],
  ]);
  expect([...place(problems).jobs.keys()]).toEqual(["m", "c", "l"]);
});

test("each problem once: the gateway's word for a thing replaces the builder's", () => {
  const d = draft();
  d.jobs[0]!.depends_on = ["cells"];
  d.jobs[2]!.params = { tiles: "0" };
  const local = checkDraft(d);
  const server = readServerProblems(d, [
    "job 'load' params.tiles: Input should be greater than or equal to 1",
    "dependency cycle: cells -> mask -> cells",
  ]);
  const merged = mergeProblems(local, server);
  expect(texts(merged)).toEqual(["params.tiles: Input should be greater than or equal to 1", "the dependencies form a cycle: cells -> mask -> cells"]);
  expect(merged.map((p) => p.from)).toEqual(["gateway", "gateway"]);
  // without the gateway's, the builder's own return
  expect(texts(mergeProblems(local, []))).toEqual(["params.tiles: at least 1", "the dependencies form a cycle: mask -> cells -> mask"]);
});

test("editing a job clears its gateway problems, and only its", () => {
  const before = draft();
  const server = readServerProblems(before, [`slide '${SLIDE}': no such file under the data root`, "something else"]);
  const after = { ...before, jobs: before.jobs.map((j) => (j.key === "m" ? { ...j, slide: "other.svs" } : j)) };
  expect(at(keepServerProblems(server, before, after))).toEqual([[{ kind: "job", key: "c", field: "slide" }, `no such file under the data root (${SLIDE})`]]);
  const same = { ...before, jobs: [...before.jobs] };
  expect(keepServerProblems(server, before, same)).toEqual(server);
  const removed = { ...before, jobs: before.jobs.filter((j) => j.key !== "c") };
  expect(keepServerProblems(server, before, removed)).toEqual(server.slice(0, 1));
});

test("JSON that cannot be read is one problem at its line and column", () => {
  const text = '{\n  "name": "x",\n  "jobs": [}\n}';
  const read = readJson(text, draft());
  expect(read.draft).toBeUndefined();
  const target = read.problem!.target;
  expect(target).toEqual({ kind: "json", line: 3, column: 12 });
  expect(read.problem!.message).toBe("expected a value, found '}'");
  expect(readJson('{"name": "x"', draft()).problem).toMatchObject({ target: { line: 1, column: 13 }, message: "expected ',' or '}', found the end" });
  expect(readJson('{"name": "x",\n "jobs": []}}', draft()).problem).toMatchObject({ target: { line: 2, column: 13 }, message: "expected the end, found '}'" });
  expect(readJson('{"jobs": 3}', draft()).problem).toMatchObject({ target: { kind: "json" }, message: '"jobs" must be a list' });
});

test("JSON that reads keeps its jobs' keys, and so their problems", () => {
  const before = draft();
  const server = readServerProblems(before, ["job 'load' params.tiles: Input should be greater than or equal to 1"]);
  const text = JSON.stringify({ name: "slide 42", jobs: [{ id: "load", type: "synthetic", branch: "cells", params: { tiles: 200 } }] }, null, 2);
  const after = readJson(text, before).draft!;
  expect(after.jobs[0]!.key).toBe("l");
  // two jobs went and the JSON was reformatted: "load" is as it was, so its problem stays
  expect(keepServerProblems(server, before, after)).toEqual(server);
});

test("problems are placed where they are drawn", () => {
  const d = draft();
  d.jobs[0]!.depends_on = ["cells"];
  d.jobs[2]!.params = { tiles: "0" };
  const placed = place(mergeProblems(checkDraft(d), []));
  expect([...placed.jobs.keys()]).toEqual(["l"]);
  expect(texts(placed.workflow)).toEqual(["the dependencies form a cycle: mask -> cells -> mask"]);
  expect(placed.json).toEqual([]);
});

test("the JSON syntax check agrees with JSON.parse", () => {
  const samples = ['{"a": [1, -2.5e3, true, false, null, "x\\"y"]}', "[]", " {} ", '"\\u00e9"', "{,}", "[1,]", "01", "tru", '{"a" 1}', "[1 2]", '"a\nb"', "", "{} {}", "-", "1.", '{"a": {"b": [}]}'];
  for (const text of samples) {
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    expect([text, jsonSyntaxError(text) === null]).toEqual([text, valid]);
  }
});
