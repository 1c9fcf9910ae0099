import { Braces, FileText, Plus, Rocket, Sparkles } from "lucide-react";
import { useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { toApiError } from "@/shared/api/errors";
import { DagCanvas } from "@/shared/dag/DagCanvas";
import { Button, Card, ErrorNotice, Loading, PageHeader, Segmented, useTitle, useToast } from "@/shared/ui";

import { useCloneSource, useSlideChoices, useSubmitWorkflow } from "../api/submit";
import { cloneOf, initialDraft, newJob, newKey, slideAnalysis, TEMPLATES, toSpec, type Draft, type DraftJob } from "../model";
import { checkDraft, describe, keepServerProblems, mergeProblems, place, readJson, readServerProblems, type Problem } from "../problems";
import { Field } from "./Field";
import { JobCard } from "./JobCard";
import { JobProblemCards, JsonProblem } from "./ProblemCards";

type Mode = "form" | "json";

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The builder; with `?from=<workflow id>` it starts as a copy of that workflow ("Edit as new"),
 *  with `?slide=<ref>` as the slide analysis of that slide. */
export function BuilderPage() {
  const [params] = useSearchParams();
  const from = params.get("from");
  const slide = params.get("slide");
  const source = useCloneSource(from);
  if (from === null) return <Builder key={slide} initial={slide ? () => slideAnalysis(slide) : initialDraft} />;
  if (source.isPending) return <Loading label="Loading the workflow to copy…" />;
  if (source.error)
    return (
      <div className="page">
        <PageHeader title="Edit as new" eyebrow={<Link to="/workflows">Workflows</Link>} />
        <ErrorNotice error={source.error} title="The workflow to copy could not be loaded" />
      </div>
    );
  return <Builder key={from} initial={() => cloneOf(source.data)} />;
}

function Builder({ initial }: { initial: () => Draft }) {
  useTitle("New workflow");
  const navigate = useNavigate();
  const toast = useToast();
  const slides = useSlideChoices();
  const submit = useSubmitWorkflow();
  const [draft, setDraft] = useState<Draft>(initial);
  const [mode, setMode] = useState<Mode>("form");
  const [json, setJson] = useState("");
  // while the JSON cannot be read, its problem is the only one: the draft's would be stale
  const [jsonProblem, setJsonProblem] = useState<Problem | null>(null);
  const [serverProblems, setServerProblems] = useState<Problem[]>([]);

  const spec = useMemo(() => toSpec(draft), [draft]);
  const local = useMemo(() => checkDraft(draft), [draft]);
  const problems = useMemo(() => (jsonProblem ? [jsonProblem] : mergeProblems(local, serverProblems)), [jsonProblem, local, serverProblems]);
  const placed = useMemo(() => place(problems), [problems]);
  const branches = useMemo(() => [...new Set(["main", ...draft.jobs.map((j) => j.branch.trim()).filter(Boolean)])], [draft.jobs]);
  const localCount = local.length;
  const preview = useMemo(() => {
    if (jsonProblem) return [];
    const inCycle = new Set(placed.workflow.flatMap((p) => p.cycle ?? []));
    return draft.jobs.map((j) => ({
      id: j.id.trim() || "?",
      branch: j.branch.trim() || "main",
      type: j.type,
      depends_on: j.depends_on,
      problem: placed.jobs.has(j.key) || inCycle.has(j.id.trim()),
    }));
  }, [draft.jobs, placed, jsonProblem]);

  const update = (next: Draft) => {
    setDraft(next);
    // typing with no refusal to keep compares nothing (and keeps the same list for the memo)
    setServerProblems((kept) => (kept.length ? keepServerProblems(kept, draft, next) : kept));
  };
  const patchJob = (key: string, patch: Partial<DraftJob>) => {
    update({
      ...draft,
      jobs: draft.jobs.map((j) => {
        if (j.key !== key) {
          // keep dependencies pointing at a renamed job
          if (patch.id !== undefined) {
            const old = draft.jobs.find((x) => x.key === key)?.id;
            if (old && j.depends_on.includes(old)) return { ...j, depends_on: j.depends_on.map((d) => (d === old ? patch.id! : d)) };
          }
          return j;
        }
        return { ...j, ...patch };
      }),
    });
  };

  // the JSON is read as it is typed: the draft, its problems and the preview follow it
  const editJson = (text: string) => {
    setJson(text);
    const read = readJson(text, draft);
    setJsonProblem(read.problem ?? null);
    if (read.draft) update(read.draft);
    else setServerProblems([]);
  };

  const editor = useRef<HTMLTextAreaElement>(null);
  const locate = (line: number, column: number) => {
    const offset = json.split("\n").slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;
    editor.current?.focus();
    editor.current?.setSelectionRange(offset, offset + 1);
  };

  const switchMode = (next: Mode) => {
    if (next === mode) return;
    if (next === "json") setJson(JSON.stringify(spec, null, 2));
    // back to the form only from readable JSON; its problem stays in view until then
    if (next === "form" && jsonProblem) return;
    setMode(next);
  };

  const onSubmit = () => {
    if (jsonProblem) return;
    // JSON mode sends the text as written, so that the gateway judges exactly that
    const body = mode === "json" ? (JSON.parse(json) as typeof spec) : spec;
    const submitted = draft;
    setServerProblems([]);
    submit.mutate(body, {
      onSuccess: (accepted) => {
        toast("success", "Workflow submitted", `${body.name || "Untitled"} is in the log (seq ${accepted.event_seq}).`);
        navigate(`/workflows/${accepted.workflow_id}`, { state: { submitted: true } });
      },
      onError: (error) => {
        const e = toApiError(error);
        if (e.status === 422) setServerProblems(readServerProblems(submitted, e.problems.length ? e.problems : [e.message]));
      },
    });
  };

  const firstSlide = slides.data?.[0]?.slide ?? "";
  // in the form the name's problems are drawn at its input; the rest of the workflow's beside the preview
  const nameProblems = mode === "form" ? placed.workflow.filter((p) => p.target.kind === "workflow" && p.target.field === "name") : [];
  const workflowProblems = placed.workflow.filter((p) => !nameProblems.includes(p));
  const blocked = mode === "form" ? localCount > 0 : jsonProblem !== null;
  return (
    <div
      className="page page--wide"
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          if (!blocked && !submit.isPending) onSubmit();
        }
      }}
    >
      <PageHeader
        title="New workflow"
        subtitle="Jobs in one branch lane run in order; lanes run side by side; arrows are dependencies."
        actions={
          <Segmented
            label="Editor mode"
            value={mode}
            onChange={switchMode}
            options={[
              { value: "form", label: <><FileText size={14} /> Form</> },
              { value: "json", label: <><Braces size={14} /> JSON</> },
            ]}
          />
        }
      />
      <div className="builder">
        <div className="builder__editor">
          {mode === "form" ? (
            <>
              <Card>
                <div className="builder__name-row">
                  <Field id="workflow-name" className={`field field--grow${nameProblems.length ? " has-error" : ""}`} label="Workflow name" messages={nameProblems.map((p) => p.message)}>
                    <input
                      id="workflow-name"
                      name="name"
                      className="input input--lg"
                      placeholder="e.g. slide 42 — nuclei"
                      value={draft.name}
                      maxLength={200}
                      aria-invalid={nameProblems.length ? true : undefined}
                      aria-describedby={nameProblems.length ? "workflow-name-problem" : undefined}
                      onChange={(e) => update({ ...draft, name: e.target.value })}
                    />
                  </Field>
                  <label className="field" htmlFor="template">
                    <span className="field__label">Start from</span>
                    <select
                      id="template"
                      className="input"
                      value=""
                      onChange={(e) => {
                        const t = TEMPLATES.find((x) => x.id === e.target.value);
                        if (t) update(t.build(firstSlide));
                      }}
                    >
                      <option value="">Template…</option>
                      {TEMPLATES.map((t) => (
                        <option key={t.id} value={t.id}>
                          {t.label}
                        </option>
                      ))}
                    </select>
                  </label>
                </div>
              </Card>
              {draft.jobs.map((job, i) => (
                <JobCard
                  key={job.key}
                  job={job}
                  index={i}
                  others={draft.jobs.filter((j) => j.key !== job.key && j.id.trim()).map((j) => j.id.trim())}
                  branches={branches}
                  slides={slides.data}
                  problems={placed.jobs.get(job.key) ?? []}
                  onChange={(patch) => patchJob(job.key, patch)}
                  onRemove={() =>
                    update({
                      ...draft,
                      jobs: draft.jobs.filter((j) => j.key !== job.key).map((j) => ({ ...j, depends_on: j.depends_on.filter((d) => d !== job.id) })),
                    })
                  }
                  onDuplicate={() => {
                    const copy = { ...newJob(draft.jobs, job.type, job.branch), slide: job.slide, params: { ...job.params }, retries: job.retries, key: newKey() };
                    const jobs = [...draft.jobs];
                    jobs.splice(i + 1, 0, copy);
                    update({ ...draft, jobs });
                  }}
                />
              ))}
              <div className="builder__add">
                {(["synthetic", "tissue_mask", "cell_segmentation"] as const).map((type) => (
                  <Button
                    key={type}
                    icon={<Plus size={15} />}
                    variant="ghost"
                    onClick={() => update({ ...draft, jobs: [...draft.jobs, { ...newJob(draft.jobs, type), slide: type === "synthetic" ? "" : firstSlide }] })}
                  >
                    {type === "synthetic" ? "Synthetic job" : type === "tissue_mask" ? "Tissue mask" : "Cell segmentation"}
                  </Button>
                ))}
              </div>
            </>
          ) : (
            <>
              <Card title="Workflow as JSON" actions={<span className="muted small">POST /v1/workflows body</span>}>
                <textarea
                  ref={editor}
                  className="input code-editor"
                  aria-label="Workflow JSON"
                  aria-invalid={jsonProblem ? true : undefined}
                  spellCheck={false}
                  value={json}
                  onChange={(e) => editJson(e.target.value)}
                />
                {jsonProblem && <JsonProblem problem={jsonProblem} onLocate={locate} />}
              </Card>
              <JobProblemCards jobs={draft.jobs} placed={placed} />
            </>
          )}
        </div>
        <aside className="builder__side">
          <Card
            title="Preview"
            flush
            actions={jsonProblem ? undefined : <span className="muted small">{plural(draft.jobs.length, "job")} · {plural(new Set(draft.jobs.map((j) => j.branch.trim() || "main")).size, "lane")}</span>}
          >
            {/* a cycle is said once, beside the preview (never drawn over it) */}
            <DagCanvas jobs={preview} cycleNotice={false} emptyText={jsonProblem ? "Fix the JSON to see the graph" : "Add a job to see the graph"} />
          </Card>
          <Card className="builder__submit">
            {workflowProblems.length > 0 && (
              <ul className="problems" role="alert" data-testid="workflow-problems">
                {workflowProblems.map((p) => (
                  <li key={p.code}>{describe(p)}</li>
                ))}
              </ul>
            )}
            {submit.error && toApiError(submit.error).status !== 422 && <ErrorNotice error={submit.error} compact title="Not submitted" />}
            {serverProblems.some((p) => p.target.kind === "job") && (
              <div className="muted small">The gateway refused the workflow; its reasons are shown next to the jobs they concern.</div>
            )}
            <div className="builder__submit-row">
              <span className="muted small">
                {problems.length === 0 ? (
                  <>
                    <Sparkles size={13} /> Looks good
                  </>
                ) : (
                  `${plural(problems.length, "problem")} to fix`
                )}
              </span>
              <Button
                variant="primary"
                icon={<Rocket size={16} />}
                busy={submit.isPending}
                disabled={blocked}
                onClick={onSubmit}
                title="Submit (Ctrl+Enter)"
              >
                Submit workflow
              </Button>
            </div>
          </Card>
        </aside>
      </div>
    </div>
  );
}
