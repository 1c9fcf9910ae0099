import { AlertCircle, Copy, Trash2 } from "lucide-react";

import { JOB_TYPES, JOB_TYPE_NAMES, MAX_RETRIES } from "@/shared/api/jobTypes";
import type { Slide } from "@/shared/api/slides";

import type { DraftJob } from "../model";
import { ParamField } from "./ParamField";

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
  problems: string[];
  onChange: (patch: Partial<DraftJob>) => void;
  onRemove: () => void;
  onDuplicate: () => void;
}

export function JobCard({ job, index, others, branches, slides, problems, onChange, onRemove, onDuplicate }: JobCardProps) {
  const info = JOB_TYPES[job.type];
  const prefix = `job-${job.key}`;
  const params = Object.entries(info?.params.properties ?? {});
  return (
    <fieldset className={`job-card${problems.length ? " has-error" : ""}`} data-testid="job-card" data-job-index={index}>
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
        <label className="field" htmlFor={`${prefix}-id`}>
          <span className="field__label">Job id</span>
          <input id={`${prefix}-id`} name="id" className="input mono" value={job.id} onChange={(e) => onChange({ id: e.target.value })} />
        </label>
        <label className="field" htmlFor={`${prefix}-type`}>
          <span className="field__label">Type</span>
          <select id={`${prefix}-type`} name="type" className="input" value={job.type} onChange={(e) => onChange({ type: e.target.value, params: {} })}>
            {JOB_TYPE_NAMES.map((t) => (
              <option key={t} value={t}>
                {TYPE_LABELS[t] ?? t}
              </option>
            ))}
          </select>
        </label>
        <label className="field" htmlFor={`${prefix}-branch`}>
          <span className="field__label">Branch lane</span>
          <input id={`${prefix}-branch`} name="branch" className="input mono" list={`${prefix}-branches`} value={job.branch} onChange={(e) => onChange({ branch: e.target.value })} />
          <datalist id={`${prefix}-branches`}>
            {branches.map((b) => (
              <option key={b} value={b} />
            ))}
          </datalist>
        </label>
        <label className="field" htmlFor={`${prefix}-retries`}>
          <span className="field__label">Retries</span>
          <input
            id={`${prefix}-retries`}
            name="retries"
            className="input"
            type="number"
            min={0}
            max={MAX_RETRIES}
            value={job.retries}
            onChange={(e) => onChange({ retries: Number(e.target.value) })}
          />
        </label>
      </div>
      <div className="grid grid--2">
        <label className="field" htmlFor={`${prefix}-slide`}>
          <span className="field__label">
            Slide {info?.needs_slide ? <span className="req">required</span> : <span className="muted">optional</span>}
          </span>
          {slides && slides.length > 0 ? (
            <select id={`${prefix}-slide`} name="slide" className="input" value={job.slide} onChange={(e) => onChange({ slide: e.target.value })}>
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
              onChange={(e) => onChange({ slide: e.target.value })}
            />
          )}
        </label>
        <div className="field">
          <span className="field__label">Runs after</span>
          <div className="chips" role="group" aria-label={`Dependencies of ${job.id}`}>
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
        </div>
      </div>
      {params.length > 0 && (
        <details className="job-card__params" open={Object.keys(job.params).length > 0 || job.type === "synthetic"}>
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
                onChange={(v) => onChange({ params: { ...job.params, [name]: v } })}
              />
            ))}
          </div>
        </details>
      )}
      {problems.length > 0 && (
        <ul className="job-card__problems" role="alert">
          {problems.map((p) => (
            <li key={p}>
              <AlertCircle size={14} /> {p}
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}
