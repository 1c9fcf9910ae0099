// What is wrong with a draft, each problem once and aimed at what it names: a job's field, the
// workflow, or the JSON text at a line and column. The builder's own checks and the gateway's 422
// reasons become the same `Problem`s; the page only decides where each target is drawn.

import { isJobId } from "@/shared/api/ids";
import { JOB_TYPES, MAX_RETRIES, type ParamSchema } from "@/shared/api/jobTypes";

import { fromSpec, jobSpec, paramKind, toSpec, type Draft, type DraftJob } from "./model";

/** A job's field as the JSON names it: `slide`, `depends_on`, `params.tile_size`, ... */
export type JobField = "id" | "type" | "branch" | "slide" | "depends_on" | "retries" | `params.${string}`;

export type Target =
  /** a job, by its draft key; without a field, the job as a whole */
  | { kind: "job"; key: string; field?: JobField }
  | { kind: "workflow"; field?: "name" | "jobs" | "cycle" }
  /** the JSON text (raw mode); where it could not be read, when the parser says */
  | { kind: "json"; line?: number; column?: number };

export interface Problem {
  target: Target;
  /** said next to the target, so without the job's or the field's name */
  message: string;
  /** what the problem is about: the builder's and the gateway's word for one thing share it */
  code: string;
  from: "builder" | "gateway";
  /** the job ids of a cycle, first == last */
  cycle?: string[];
}

const targetKey = (t: Target) => (t.kind === "job" ? `job:${t.key}` : t.kind);
const identity = (p: Problem) => `${targetKey(p.target)}|${p.code}`;

/** A problem as text away from its field: `params.tiles: at least 1`. */
export function describe(problem: Problem): string {
  const field = problem.target.kind === "json" ? undefined : problem.target.field;
  return field && field !== "cycle" && field !== "jobs" ? `${field}: ${problem.message}` : problem.message;
}

/** What the gateway would refuse, found before asking it (it re-checks everything). */
export function checkDraft(draft: Draft): Problem[] {
  const out: Problem[] = [];
  const add = (key: string, field: JobField | undefined, code: string, message: string) =>
    out.push({ target: { kind: "job", key, ...(field ? { field } : {}) }, code, message, from: "builder" });
  if (draft.jobs.length === 0) out.push({ target: { kind: "workflow", field: "jobs" }, code: "no-jobs", message: "add at least one job", from: "builder" });
  if (draft.name.length > 200) out.push({ target: { kind: "workflow", field: "name" }, code: "name", message: "longer than 200 characters", from: "builder" });
  const counts = new Map<string, number>();
  for (const job of draft.jobs) counts.set(job.id.trim(), (counts.get(job.id.trim()) ?? 0) + 1);
  const ids = new Set(counts.keys());
  for (const job of draft.jobs) {
    const id = job.id.trim();
    if (!id) add(job.key, "id", "id", "needs an id");
    else if (!isJobId(id)) add(job.key, "id", "id", "letters, digits, . _ - (starting with a letter or digit), at most 64");
    if ((counts.get(id) ?? 0) > 1) add(job.key, "id", "duplicate-id", `another job has the id "${id}"`);
    const branch = job.branch.trim();
    if (branch && !isJobId(branch)) add(job.key, "branch", "branch", "letters, digits, . _ -");
    const info = JOB_TYPES[job.type];
    if (!info) {
      add(job.key, "type", "unknown-type", `unknown type "${job.type}"`);
      continue;
    }
    if (info.needs_slide && !job.slide) add(job.key, "slide", "needs-slide", `a ${job.type.replace("_", " ")} job needs a slide`);
    for (const dep of job.depends_on) {
      if (dep === id) add(job.key, "depends_on", "self-dependency", "depends on itself");
      else if (!ids.has(dep)) add(job.key, "depends_on", `unknown-dependency:${dep}`, `unknown job "${dep}"`);
    }
    if (job.retries < 0 || job.retries > MAX_RETRIES || !Number.isInteger(job.retries)) add(job.key, "retries", "retries", `0 to ${MAX_RETRIES}`);
    for (const [name, raw] of Object.entries(job.params)) {
      const schema = info.params.properties[name];
      const problem = schema ? paramProblem(schema, raw) : "unknown parameter";
      if (problem) add(job.key, `params.${name}`, `param:${name}`, problem);
    }
  }
  const cycle = findCycle(toSpec(draft).jobs.map((j) => ({ id: j.id, depends_on: j.depends_on ?? [] })));
  if (cycle) out.push(cycleProblem(cycle, "builder"));
  return out;
}

export function paramProblem(schema: ParamSchema, raw: string): string | null {
  const text = raw.trim();
  if (text === "") return null;
  const kind = paramKind(schema);
  if (kind.type === "integer" || kind.type === "number") {
    const n = Number(text);
    if (Number.isNaN(n)) return "must be a number";
    if (kind.type === "integer" && !Number.isInteger(n)) return "must be a whole number";
    if (kind.minimum !== undefined && n < kind.minimum) return `at least ${kind.minimum}`;
    if (kind.exclusiveMinimum !== undefined && n <= kind.exclusiveMinimum) return `more than ${kind.exclusiveMinimum}`;
    if (kind.maximum !== undefined && n > kind.maximum) return `at most ${kind.maximum}`;
    if (schema.multipleOf && n % schema.multipleOf !== 0) return `a multiple of ${schema.multipleOf}`;
  }
  if (kind.type === "string") {
    if (schema.minLength && text.length < schema.minLength) return `at least ${schema.minLength} characters`;
    if (schema.maxLength && text.length > schema.maxLength) return `at most ${schema.maxLength} characters`;
  }
  return null;
}

/** A dependency cycle as job ids (first == last), or null when the jobs form a DAG. */
export function findCycle(jobs: readonly { id: string; depends_on: readonly string[] }[]): string[] | null {
  const deps = new Map(jobs.map((j) => [j.id, j.depends_on]));
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === "done") return null;
    if (state.get(id) === "open") return [...path.slice(path.indexOf(id)), id];
    state.set(id, "open");
    path.push(id);
    // a job depending on itself is its own problem, not a cycle
    for (const dep of deps.get(id) ?? []) {
      if (dep === id || !deps.has(dep)) continue;
      const found = visit(dep);
      if (found) return found;
    }
    path.pop();
    state.set(id, "done");
    return null;
  };
  for (const job of jobs) {
    const found = visit(job.id);
    if (found) return found.reverse(); // in the order the jobs run: "a -> b" when b depends on a
  }
  return null;
}

function cycleProblem(cycle: string[], from: Problem["from"]): Problem {
  return { target: { kind: "workflow", field: "cycle" }, code: "cycle", message: `the dependencies form a cycle: ${cycle.join(" -> ")}`, from, cycle };
}

const QUOTED = String.raw`(?:'([^']*)'|"([^"]*)")`;
type Match = RegExpExecArray;
// what `validate_workflow` says after "job 'x' "
const JOB_REASONS: { pattern: RegExp; field: (m: Match) => JobField; code: (m: Match) => string; message?: (m: Match) => string }[] = [
  { pattern: new RegExp(String.raw`^depends on unknown job ${QUOTED}$`), field: () => "depends_on", code: (m) => `unknown-dependency:${m[1] ?? m[2]}`, message: (m) => `unknown job "${m[1] ?? m[2]}"` },
  { pattern: /^depends on itself$/, field: () => "depends_on", code: () => "self-dependency" },
  { pattern: /^has unknown type /, field: () => "type", code: () => "unknown-type" },
  { pattern: /^of type \S+ needs a slide$/, field: () => "slide", code: () => "needs-slide", message: () => "needs a slide" },
  { pattern: /^params\.([A-Za-z0-9_]+)[^:]*: (.*)$/, field: (m) => `params.${m[1]}`, code: (m) => `param:${m[1]}`, message: (m) => m[2]! },
];
const FIELDS = new Set(["id", "type", "branch", "slide", "depends_on", "retries"]);

/** The gateway's 422 reasons as problems of the draft that was submitted. Its words are matched
 * against the formats of `tessera.workflows.validate_workflow`, `SlideError` and the request
 * validation in `services/gateway/api/errors.py`; a reason that names nothing known stays whole,
 * a workflow problem. */
export function readServerProblems(draft: Draft, reasons: readonly string[]): Problem[] {
  const out: Problem[] = [];
  const server = (target: Target, code: string, message: string): Problem => ({ target, code, message, from: "gateway" });
  const jobsWith = (pick: (job: DraftJob) => boolean) => draft.jobs.filter(pick);
  for (const reason of reasons) {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(String.raw`^job ${QUOTED} (.*)$`).exec(reason))) {
      const id = m[1] ?? m[2];
      const rest = m[3]!;
      const job = draft.jobs.find((j) => j.id.trim() === id);
      const known = JOB_REASONS.map((r) => ({ r, m: r.pattern.exec(rest) })).find((x) => x.m);
      if (job && known?.m) out.push(server({ kind: "job", key: job.key, field: known.r.field(known.m) }, known.r.code(known.m), known.r.message?.(known.m) ?? rest));
      else if (job) out.push(server({ kind: "job", key: job.key }, rest, rest));
      else out.push(server({ kind: "workflow" }, reason, reason));
    } else if ((m = new RegExp(String.raw`^duplicate job id ${QUOTED}$`).exec(reason))) {
      const id = m[1] ?? m[2];
      for (const job of jobsWith((j) => j.id.trim() === id)) out.push(server({ kind: "job", key: job.key, field: "id" }, "duplicate-id", `another job has the id "${id}"`));
    } else if ((m = /^dependency cycle: (.*)$/.exec(reason))) {
      out.push(cycleProblem(m[1]!.split(" -> "), "gateway"));
    } else if ((m = new RegExp(String.raw`^slide ${QUOTED}: (.*)$`).exec(reason))) {
      const slide = canonicalSlide(m[1] ?? m[2] ?? "");
      const named = jobsWith((j) => j.slide !== "" && canonicalSlide(j.slide) === slide);
      const message = `${m[3]} (${slide})`;
      if (named.length === 0) out.push(server({ kind: "workflow" }, reason, reason));
      for (const job of named) out.push(server({ kind: "job", key: job.key, field: "slide" }, "slide", message));
    } else if ((m = /^jobs\.(\d+)(?:\.([a-z_]+))?[^:]*: (.*)$/.exec(reason)) && draft.jobs[Number(m[1])]) {
      // the request's own validation (pydantic), by position in the list
      const job = draft.jobs[Number(m[1])]!;
      const field = m[2] && FIELDS.has(m[2]) ? (m[2] as JobField) : undefined;
      out.push(server({ kind: "job", key: job.key, ...(field ? { field } : {}) }, field ?? reason, field ? m[3]! : reason.replace(/^jobs\.\d+\./, "")));
    } else if ((m = /^name: (.*)$/.exec(reason))) {
      out.push(server({ kind: "workflow", field: "name" }, "name", m[1]!));
    } else {
      out.push(server({ kind: "workflow" }, reason, reason));
    }
  }
  return out;
}

/** One spelling per file, as `tessera.workflows.canonical_slide` has it: `./a//b.svs` is `a/b.svs`. */
export function canonicalSlide(reference: string): string {
  if (!reference.trim()) return reference;
  const parts = reference.split("/").filter((p) => p !== "" && p !== ".");
  return (reference.startsWith("/") ? "/" : "") + (parts.join("/") || ".");
}

/** Every problem once: the gateway's word for a thing replaces the builder's (it is what was
 * refused), and the builder's returns as soon as an edit clears the gateway's. */
export function mergeProblems(builder: readonly Problem[], gateway: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const p of [...gateway, ...builder]) {
    if (seen.has(identity(p))) continue;
    seen.add(identity(p));
    out.push(p);
  }
  return out;
}

/** The gateway's problems that still hold after an edit from `before` to `after`: those of the
 * jobs left as they were; the workflow's only while nothing changed. */
export function keepServerProblems(problems: readonly Problem[], before: Draft, after: Draft): Problem[] {
  const spec = (job: DraftJob | undefined) => (job ? JSON.stringify(jobSpec(job)) : undefined);
  const unchanged = (key: string) => {
    const old = spec(before.jobs.find((j) => j.key === key));
    return old !== undefined && old === spec(after.jobs.find((j) => j.key === key));
  };
  const same = JSON.stringify(toSpec(before)) === JSON.stringify(toSpec(after));
  return problems.filter((p) => (p.target.kind === "job" ? unchanged(p.target.key) : same));
}

export type JsonRead = { draft: Draft; problem?: undefined } | { draft?: undefined; problem: Problem };

/** The JSON text as a draft, keeping the keys of `previous`'s jobs by id (so that their problems
 * stay with them); or the problem that stops it, at its line and column when the parser says. */
export function readJson(text: string, previous: Draft): JsonRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { problem: jsonProblem(text, e instanceof Error ? e.message : String(e)) };
  }
  try {
    return { draft: fromSpec(value, previous) };
  } catch (e) {
    return { problem: { target: { kind: "json" }, code: "json", message: e instanceof Error ? e.message : String(e), from: "builder" } };
  }
}

function jsonProblem(text: string, engine: string): Problem {
  // browsers word JSON.parse's errors differently and some give no position: find it here
  const error = jsonSyntaxError(text) ?? { offset: text.length, message: engine };
  const before = text.slice(0, error.offset).split("\n");
  return { target: { kind: "json", line: before.length, column: before[before.length - 1]!.length + 1 }, code: "json", message: error.message, from: "builder" };
}

class SyntaxAt {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/** Where and why `text` is not JSON (RFC 8259), or null when it is. */
export function jsonSyntaxError(text: string): { offset: number; message: string } | null {
  let i = 0;
  const here = () => (i >= text.length ? "the end" : `'${text[i]}'`);
  const fail = (expected: string): never => {
    throw new SyntaxAt(i, `expected ${expected}, found ${here()}`);
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const expect = (c: string, what = `'${c}'`) => {
    space();
    if (text[i] !== c) fail(what);
    i++;
  };
  const string = () => {
    expect('"', "a quoted key");
    while (text[i] !== '"') {
      if (i >= text.length) throw new SyntaxAt(i, "a string is not closed");
      if (text.charCodeAt(i) < 0x20) throw new SyntaxAt(i, "a line break or control character inside a string");
      i += text[i] === "\\" ? 2 : 1;
    }
    i++;
  };
  const list = (close: string, item: () => void) => {
    i++;
    space();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      space();
      if (text[i] === close) return void i++;
      if (text[i] !== ",") fail(`',' or '${close}'`);
      i++;
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{")
      return list("}", () => {
        space();
        string();
        expect(":");
        value();
      });
    if (c === "[") return list("]", value);
    if (c === '"') return string();
    const word = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!word) fail("a value");
    i += word![0].length;
  };
  try {
    value();
    space();
    if (i < text.length) fail("the end");
    return null;
  } catch (e) {
    if (e instanceof SyntaxAt) return { offset: e.offset, message: e.message };
    throw e;
  }
}

export interface Placed {
  workflow: Problem[];
  json: Problem[];
  /** by job key, in the order found */
  jobs: Map<string, Problem[]>;
}

/** The problems by where they are drawn. */
export function place(problems: readonly Problem[]): Placed {
  const out: Placed = { workflow: [], json: [], jobs: new Map() };
  for (const p of problems) {
    if (p.target.kind === "job") {
      const list = out.jobs.get(p.target.key) ?? [];
      list.push(p);
      out.jobs.set(p.target.key, list);
    } else out[p.target.kind].push(p);
  }
  return out;
}
