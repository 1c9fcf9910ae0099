// The builder's draft of a workflow, and how it becomes the WorkflowSpec the gateway takes.

import { JOB_TYPES, MAX_RETRIES, type ParamSchema } from "@/shared/api/jobTypes";
import type { WorkflowDetail, WorkflowSpec } from "@/shared/api/types";
import { layoutDag } from "@/shared/dag/layout";

export interface DraftJob {
  /** stable React key; ids may be edited */
  key: string;
  id: string;
  type: string;
  branch: string;
  slide: string;
  depends_on: string[];
  retries: number;
  /** parameter inputs as typed; empty means the default */
  params: Record<string, string>;
}

export interface Draft {
  name: string;
  jobs: DraftJob[];
}

let counter = 0;
export const newKey = () => `k${++counter}`;

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function newJob(existing: DraftJob[], type = "synthetic", branch?: string): DraftJob {
  const ids = new Set(existing.map((j) => j.id));
  const stem = type === "cell_segmentation" ? "cells" : type === "tissue_mask" ? "mask" : "load";
  let n = 1;
  let id = stem;
  while (ids.has(id)) id = `${stem}-${++n}`;
  return { key: newKey(), id, type, branch: branch ?? existing[existing.length - 1]?.branch ?? "main", slide: "", depends_on: [], retries: 0, params: {} };
}

/** The schema of a parameter, unwrapping `anyOf [X, null]`. */
export function paramKind(schema: ParamSchema): { type: string; nullable: boolean; minimum?: number; maximum?: number; exclusiveMinimum?: number } {
  if (schema.anyOf) {
    const real = schema.anyOf.find((s) => s.type !== "null") ?? {};
    return { type: real.type ?? "string", nullable: true, ...pick(real) };
  }
  return { type: schema.type ?? "string", nullable: false, ...pick(schema) };
}

function pick(s: { minimum?: number; maximum?: number; exclusiveMinimum?: number }) {
  const out: { minimum?: number; maximum?: number; exclusiveMinimum?: number } = {};
  if (s.minimum !== undefined) out.minimum = s.minimum;
  if (s.maximum !== undefined) out.maximum = s.maximum;
  if (s.exclusiveMinimum !== undefined) out.exclusiveMinimum = s.exclusiveMinimum;
  return out;
}

function paramValue(schema: ParamSchema, raw: string): unknown {
  const kind = paramKind(schema);
  const text = raw.trim();
  if (kind.type === "integer" || kind.type === "number") {
    const n = Number(text);
    return text === "" || Number.isNaN(n) ? text : n;
  }
  if (kind.type === "boolean") return text === "true";
  return raw;
}

export function toSpec(draft: Draft): WorkflowSpec {
  return {
    name: draft.name.trim(),
    jobs: draft.jobs.map((job) => {
      const schemas = JOB_TYPES[job.type]?.params.properties ?? {};
      const params: Record<string, unknown> = {};
      for (const [name, raw] of Object.entries(job.params)) {
        if (raw.trim() === "") continue;
        params[name] = schemas[name] ? paramValue(schemas[name], raw) : raw;
      }
      return {
        id: job.id.trim(),
        type: job.type,
        branch: job.branch.trim() || "main",
        ...(job.slide ? { slide: job.slide } : {}),
        ...(Object.keys(params).length ? { params } : {}),
        ...(job.depends_on.length ? { depends_on: job.depends_on } : {}),
        ...(job.retries ? { retries: job.retries } : {}),
      };
    }),
  };
}

/** "Edit as new": a draft of an existing workflow's jobs (in submission order, parameters as
 * submitted) under a new name, e.g. "slide 42 (copy)". */
export function cloneOf(workflow: WorkflowDetail): Draft {
  const jobs = [...workflow.jobs].sort((a, b) => a.position - b.position);
  return fromSpec({
    name: `${workflow.name || "Untitled workflow"} (copy)`,
    jobs: jobs.map((j) => ({ id: j.id, type: j.type, branch: j.branch, slide: j.slide, params: j.params, depends_on: j.depends_on, retries: j.retries })),
  });
}

/** Read a spec (raw JSON mode) back into a draft; throws with a readable message. */
export function fromSpec(value: unknown): Draft {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("the workflow must be a JSON object");
  const spec = value as Record<string, unknown>;
  if (!Array.isArray(spec.jobs)) throw new Error('"jobs" must be a list');
  const jobs = spec.jobs.map((raw, i): DraftJob => {
    if (typeof raw !== "object" || raw === null) throw new Error(`job ${i + 1} must be an object`);
    const j = raw as Record<string, unknown>;
    const params: Record<string, string> = {};
    if (j.params !== undefined) {
      if (typeof j.params !== "object" || j.params === null) throw new Error(`job ${i + 1}: "params" must be an object`);
      for (const [k, v] of Object.entries(j.params)) params[k] = v === null ? "" : String(v);
    }
    return {
      key: newKey(),
      id: String(j.id ?? ""),
      type: String(j.type ?? "synthetic"),
      branch: String(j.branch ?? "main"),
      slide: j.slide == null ? "" : String(j.slide),
      depends_on: Array.isArray(j.depends_on) ? j.depends_on.map(String) : [],
      retries: Number(j.retries ?? 0) || 0,
      params,
    };
  });
  return { name: typeof spec.name === "string" ? spec.name : "", jobs };
}

export interface DraftProblems {
  /** by job key */
  jobs: Record<string, string[]>;
  workflow: string[];
}

/** What the gateway would refuse, found before asking it (it re-checks everything). */
export function checkDraft(draft: Draft): DraftProblems {
  const out: DraftProblems = { jobs: {}, workflow: [] };
  const add = (key: string, message: string) => {
    (out.jobs[key] ??= []).push(message);
  };
  if (draft.jobs.length === 0) out.workflow.push("add at least one job");
  if (draft.name.length > 200) out.workflow.push("the name is longer than 200 characters");
  const counts = new Map<string, number>();
  for (const job of draft.jobs) counts.set(job.id.trim(), (counts.get(job.id.trim()) ?? 0) + 1);
  const ids = new Set(counts.keys());
  for (const job of draft.jobs) {
    const id = job.id.trim();
    if (!id) add(job.key, "needs an id");
    else if (!ID_PATTERN.test(id) || id.length > 64) add(job.key, "id: letters, digits, . _ - (starting with a letter or digit)");
    if ((counts.get(id) ?? 0) > 1) add(job.key, `duplicate id "${id}"`);
    const branch = job.branch.trim();
    if (branch && (!ID_PATTERN.test(branch) || branch.length > 64)) add(job.key, "branch: letters, digits, . _ -");
    const info = JOB_TYPES[job.type];
    if (!info) {
      add(job.key, `unknown type "${job.type}"`);
      continue;
    }
    if (info.needs_slide && !job.slide) add(job.key, `a ${job.type.replace("_", " ")} job needs a slide`);
    for (const dep of job.depends_on) {
      if (dep === id) add(job.key, "depends on itself");
      else if (!ids.has(dep)) add(job.key, `depends on unknown job "${dep}"`);
    }
    if (job.retries < 0 || job.retries > MAX_RETRIES || !Number.isInteger(job.retries)) add(job.key, `retries: 0 to ${MAX_RETRIES}`);
    for (const [name, raw] of Object.entries(job.params)) {
      const schema = info.params.properties[name];
      if (!schema) {
        add(job.key, `unknown parameter "${name}"`);
        continue;
      }
      const problem = paramProblem(schema, raw);
      if (problem) add(job.key, `${name}: ${problem}`);
    }
  }
  if (draft.jobs.length && layoutDag(toSpec(draft).jobs.map((j) => ({ id: j.id, branch: j.branch ?? "main", type: j.type, depends_on: j.depends_on ?? [] }))).cyclic) {
    out.workflow.push("the dependencies form a cycle");
  }
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

/** Attach the gateway's 422 problems to the jobs they name (`job 'x' ...`). */
export function assignServerProblems(draft: Draft, problems: string[]): DraftProblems {
  const out: DraftProblems = { jobs: {}, workflow: [] };
  for (const problem of problems) {
    const named = /job '([^']+)'/.exec(problem)?.[1] ?? /jobs\.(\d+)\./.exec(problem)?.[1];
    const job = draft.jobs.find((j) => j.id === named) ?? (named && /^\d+$/.test(named) ? draft.jobs[Number(named)] : undefined);
    if (job) (out.jobs[job.key] ??= []).push(problem);
    else out.workflow.push(problem);
  }
  return out;
}

export const TEMPLATES: { id: string; label: string; build: (slide: string) => Draft }[] = [
  {
    id: "synthetic",
    label: "Synthetic load (no slide)",
    build: () => ({
      name: "synthetic demo",
      jobs: [
        { key: newKey(), id: "prepare", type: "synthetic", branch: "main", slide: "", depends_on: [], retries: 0, params: { tiles: "60", seconds_per_tile: "0.05" } },
        { key: newKey(), id: "analyse", type: "synthetic", branch: "main", slide: "", depends_on: [], retries: 1, params: { tiles: "120", seconds_per_tile: "0.03" } },
        { key: newKey(), id: "side-load", type: "synthetic", branch: "side", slide: "", depends_on: ["prepare"], retries: 0, params: { tiles: "80", seconds_per_tile: "0.04" } },
      ],
    }),
  },
  {
    id: "slide",
    label: "Slide analysis: tissue mask → cells",
    build: (slide) => ({
      name: slide ? `analysis of ${slide}` : "slide analysis",
      jobs: [
        { key: newKey(), id: "mask", type: "tissue_mask", branch: "qc", slide, depends_on: [], retries: 0, params: {} },
        { key: newKey(), id: "cells", type: "cell_segmentation", branch: "cells", slide, depends_on: ["mask"], retries: 1, params: {} },
      ],
    }),
  },
];

/** The slide analysis template for one slide ("Use this slide in a new workflow"). */
export function slideAnalysis(slide: string): Draft {
  return TEMPLATES.find((t) => t.id === "slide")!.build(slide);
}

export function initialDraft(): Draft {
  return { name: "", jobs: [{ key: newKey(), id: "load", type: "synthetic", branch: "main", slide: "", depends_on: [], retries: 0, params: {} }] };
}
