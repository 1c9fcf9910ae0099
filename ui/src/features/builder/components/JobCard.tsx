import { Copy, Trash2 } from "lucide-react";

import { JOB_TYPES, JOB_TYPE_NAMES, MAX_RETRIES } from "@/shared/api/jobTypes";
import type { Slide } from "@/shared/api/slides";

import type { DraftJob } from "../model";
import type { JobField, Problem } from "../problems";
import { Field, FieldProblems } from "./Field";
import { ParamField } from "./ParamField";
import { ProblemList } from "./ProblemCards";

const TYPE_LABELS: Record<string, string> = {
  synthetic: "Synthetic load",
  tissue_mask: "Tissue mask",
  cell_segmentation: "Cell segmentation",
};

const TYPE_HINTS: Record<string, string> = {
  tissue_mask: "Otsu on saturation over an overview, blended across tiles.",
  cell_segmentation: "InstanSeg nuclei over tissue tiles, stitched without seams.",
};

interface JobCardProps {
  job: DraftJob;
  index: number;
  others: string[];
  branches: string[];
  slides: Slide[] | undefined;
  /** this job's problems: each is shown at its field, or under the card when it has none here */
  problems: Problem[];
  onChange: (patch: Partial<DraftJob>) => void;
  onRemove: () => void;
  onDuplicate: () => void;
}

export function JobCard({ job, index, others, branches, slides, problems, onChange, onRemove, onDuplicate }: JobCardProps) {
  const info = JOB_TYPES[job.type];
  const prefix = `job-${job.key}`;
  const params = Object.entries(info?.params.properties ?? {});
  const fieldOf = (p: Problem) => (p.target.kind === "job" ? p.target.field : undefined);
  const drawn = new Set<string>(["id", "type", "branch", "retries", "slide", "depends_on", ...params.map(([name]) => `params.${name}`)]);
  const at = (field: JobField) => problems.filter((p) => fieldOf(p) === field).map((p) => p.message);
  const elsewhere = problems.filter((p) => !drawn.has(fieldOf(p) ?? ""));
  const invalid = (field: JobField) => (at(field).length ? true : undefined);
  // a field's problem describes its input (aria-describedby); inside its <label> it would join its name
  const described = (field: JobField) => (at(field).length ? `${prefix}-${field}-problem` : undefined);
  const cls = (field: JobField, base = "field") => `${base}${at(field).length ? " has-error" : ""}`;
  return (
    <fieldset className={`job-card${problems.length ? " has-error" : ""}`} data-testid="job-card" data-job-index={index} data-job={job.id}>
      <legend className="job-card__legend">
        <span className="job-card__index">{index + 1}</span>
        <span className="mono">{job.id || "unnamed"}</span>
      </legend>
      <div className="job-card__tools">
        <button type="button" className="icon-btn" title="Duplicate job" aria-label={`Duplicate job ${job.id}`} onClick={onDuplicate}>
          <Copy size={14} />
        </button>
        <button type="button" className="icon-btn icon-btn--danger" title="Remove job" aria-label={`Remove job ${job.id}`} onClick={onRemove}>
          <Trash2 size={14} />
        </button>
      </div>
      <div className="grid grid--4">
        <Field id={`${prefix}-id`} className={cls("id")} label="Job id" messages={at("id")}>
          <input id={`${prefix}-id`} name="id" className="input mono" value={job.id} aria-invalid={invalid("id")} aria-describedby={described("id")} onChange={(e) => onChange({ id: e.target.value })} />
        </Field>
        <Field id={`${prefix}-type`} className={cls("type")} label="Type" messages={at("type")}>
          <select id={`${prefix}-type`} name="type" className="input" value={job.type} aria-invalid={invalid("type")} aria-describedby={described("type")} onChange={(e) => onChange({ type: e.target.value, params: {} })}>
            {JOB_TYPE_NAMES.map((t) => (
              <option key={t} value={t}>
                {TYPE_LABELS[t] ?? t}
              </option>
            ))}
          </select>
        </Field>
        <Field id={`${prefix}-branch`} className={cls("branch")} label="Branch lane" messages={at("branch")}>
          <input id={`${prefix}-branch`} name="branch" className="input mono" list={`${prefix}-branches`} value={job.branch} aria-invalid={invalid("branch")} aria-describedby={described("branch")} onChange={(e) => onChange({ branch: e.target.value })} />
          <datalist id={`${prefix}-branches`}>
            {branches.map((b) => (
              <option key={b} value={b} />
            ))}
          </datalist>
        </Field>
        <Field id={`${prefix}-retries`} className={cls("retries")} label="Retries" messages={at("retries")}>
          <input
            id={`${prefix}-retries`}
            name="retries"
            className="input"
            type="number"
            min={0}
            max={MAX_RETRIES}
            value={job.retries}
            aria-invalid={invalid("retries")}
            aria-describedby={described("retries")}
            onChange={(e) => onChange({ retries: Number(e.target.value) })}
          />
        </Field>
      </div>
      <div className="grid grid--2">
        <Field
          id={`${prefix}-slide`}
          className={cls("slide")}
          messages={at("slide")}
          label={<>Slide {info?.needs_slide ? <span className="req">required</span> : <span className="muted">optional</span>}</>}
        >
          {slides && slides.length > 0 ? (
            <select id={`${prefix}-slide`} name="slide" className="input" value={job.slide} aria-invalid={invalid("slide")} aria-describedby={described("slide")} onChange={(e) => onChange({ slide: e.target.value })}>
              <option value="">{info?.needs_slide ? "Choose a slide…" : "No slide"}</option>
              {slides.map((s) => (
                <option key={s.slide} value={s.slide}>
                  {s.uploaded ? `${s.name} (your upload)` : s.name}
                </option>
              ))}
              {job.slide && !slides.some((s) => s.slide === job.slide) && <option value={job.slide}>{job.slide}</option>}
            </select>
          ) : (
            <input
              id={`${prefix}-slide`}
              name="slide"
              className="input"
              placeholder="path under the data root, e.g. CMU-1-Small-Region.svs"
              value={job.slide}
              aria-invalid={invalid("slide")}
              aria-describedby={described("slide")}
              onChange={(e) => onChange({ slide: e.target.value })}
            />
          )}
        </Field>
        <div className={cls("depends_on")}>
          <span className="field__label">Runs after</span>
          <div className="chips" role="group" aria-label={`Dependencies of ${job.id}`} aria-describedby={described("depends_on")}>
            {others.length === 0 && <span className="muted small">no other jobs</span>}
            {others.map((other) => {
              const on = job.depends_on.includes(other);
              return (
                <button
                  key={other}
                  type="button"
                  className={`chip chip--toggle${on ? " is-on" : ""}`}
                  aria-pressed={on}
                  onClick={() => onChange({ depends_on: on ? job.depends_on.filter((d) => d !== other) : [...job.depends_on, other] })}
                >
                  {other}
                </button>
              );
            })}
          </div>
          <FieldProblems id={`${prefix}-depends_on-problem`} messages={at("depends_on")} />
        </div>
      </div>
      {params.length > 0 && (
        <details className="job-card__params" open={Object.keys(job.params).length > 0 || job.type === "synthetic" || problems.some((p) => fieldOf(p)?.startsWith("params."))}>
          <summary title={TYPE_HINTS[job.type] ?? info?.description ?? undefined}>
            <span>Parameters</span>
            <span className="job-card__hint">{TYPE_HINTS[job.type] ?? info?.description ?? ""}</span>
          </summary>
          <div className="grid grid--3">
            {params.map(([name, schema]) => (
              <ParamField
                key={name}
                idPrefix={prefix}
                name={name}
                schema={schema}
                value={job.params[name] ?? ""}
                problem={at(`params.${name}`).join("; ") || undefined}
                onChange={(v) => onChange({ params: { ...job.params, [name]: v } })}
              />
            ))}
          </div>
        </details>
      )}
      {elsewhere.length > 0 && <ProblemList problems={elsewhere} />}
    </fieldset>
  );
}
