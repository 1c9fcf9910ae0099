// The builder's draft of a workflow, and how it becomes the WorkflowSpec the gateway takes.

import { JOB_TYPES, type ParamSchema } from "@/shared/api/jobTypes";
import type { WorkflowDetail, WorkflowSpec } from "@/shared/api/types";

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
  return { name: draft.name.trim(), jobs: draft.jobs.map(jobSpec) };
}

export function jobSpec(job: DraftJob): WorkflowSpec["jobs"][number] {
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

/** Read a spec (raw JSON mode) back into a draft; throws with a readable message. A job keeps
 * the key of `previous`'s job of the same id. */
export function fromSpec(value: unknown, previous?: Draft): Draft {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("the workflow must be a JSON object");
  const spec = value as Record<string, unknown>;
  if (!Array.isArray(spec.jobs)) throw new Error('"jobs" must be a list');
  const keys = new Map((previous?.jobs ?? []).toReversed().map((j) => [j.id, j.key]));
  const jobs = spec.jobs.map((raw, i): DraftJob => {
    if (typeof raw !== "object" || raw === null) throw new Error(`job ${i + 1} must be an object`);
    const j = raw as Record<string, unknown>;
    const params: Record<string, string> = {};
    if (j.params !== undefined) {
      if (typeof j.params !== "object" || j.params === null) throw new Error(`job ${i + 1}: "params" must be an object`);
      for (const [k, v] of Object.entries(j.params)) params[k] = v === null ? "" : String(v);
    }
    const id = String(j.id ?? "");
    const key = keys.get(id) ?? newKey();
    keys.delete(id);
    return {
      key,
      id,
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
