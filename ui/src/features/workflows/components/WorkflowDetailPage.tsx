import { Ban, ChevronRight, CopyPlus, GitBranch } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";

import { toApiError } from "@/shared/api/errors";
import { isWorkflowId } from "@/shared/api/ids";
import { isTerminal, type JobView, type WorkflowDetail } from "@/shared/api/types";
import { DagCanvas } from "@/shared/dag/DagCanvas";
import type { DagJob } from "@/shared/dag/layout";
import { formatDateTime, formatDuration, secondsBetween, shortId } from "@/shared/lib/format";
import {
  Card,
  ClampedText,
  ConfirmButton,
  CopyButton,
  ErrorNotice,
  Loading,
  NotFoundNotice,
  PageHeader,
  ProgressBar,
  RelativeTime,
  Stat,
  StateBadge,
  useNow,
  useTitle,
  useToast,
  WaitingReason,
} from "@/shared/ui";

import { useCancelJob, useCancelWorkflow, useWorkflow } from "../api/workflows";
import { RerunJobButton } from "./RerunJobButton";

export function WorkflowDetailPage() {
  const { workflowId = "" } = useParams();
  const submitted = Boolean((useLocation().state as { submitted?: boolean } | null)?.submitted);
  const query = useWorkflow(workflowId, submitted);
  const malformed = !isWorkflowId(workflowId);
  if (malformed || (query.error && toApiError(query.error).status === 404))
    return (
      <div className="page">
        <PageHeader title="Workflow" eyebrow={<Link to="/workflows">Workflows</Link>} />
        <NotFoundNotice kind="workflow" id={workflowId} malformed={malformed} />
      </div>
    );
  if (query.isPending) return <Loading label="Loading workflow…" />;
  if (query.error)
    return (
      <div className="page">
        <PageHeader title="Workflow" eyebrow={<Link to="/workflows">Workflows</Link>} />
        <ErrorNotice error={query.error} onRetry={() => void query.refetch()} />
      </div>
    );
  return <WorkflowView workflow={query.data} />;
}

function toDag(jobs: JobView[]): DagJob[] {
  return jobs.map((j) => ({
    id: j.id,
    branch: j.branch,
    type: j.type,
    depends_on: j.depends_on,
    state: j.state,
    percent: j.progress.percent,
    tiles_done: j.progress.tiles_done,
    tiles_total: j.progress.tiles_total,
    attempt: j.attempt,
  }));
}

function WorkflowView({ workflow: w }: { workflow: WorkflowDetail }) {
  const navigate = useNavigate();
  const toast = useToast();
  const cancel = useCancelWorkflow(w.id);
  const now = useNow(isTerminal(w.state) ? 60_000 : 1000);
  const dagJobs = useMemo(() => toDag(w.jobs), [w.jobs]);
  const lanes = Object.entries(w.lanes);
  const jobsById = new Map(w.jobs.map((j) => [j.id, j]));
  const canCancel = !isTerminal(w.state);
  useTitle(`${w.name || "Workflow"} · ${Math.floor(w.progress.percent)}%`);

  return (
    <div className="page" data-testid="workflow-detail" data-state={w.state}>
      <PageHeader
        ownHeading
        eyebrow={
          <span className="crumbs">
            <Link to="/workflows">Workflows</Link>
            <ChevronRight size={14} />
            <span className="mono">{shortId(w.id)}</span>
            <CopyButton value={w.id} label="Copy workflow id" />
          </span>
        }
        title={
          <div className="title-with-badge">
            <ClampedText text={w.name || "Untitled workflow"} heading />
            <StateBadge state={w.state} />
          </div>
        }
        actions={
          <>
            <Link to={`/workflows/new?from=${w.id}`} className="btn btn--secondary btn--md">
              <CopyPlus size={16} />
              <span>Edit as new</span>
            </Link>
            {canCancel && (
              <ConfirmButton
                label="Cancel workflow"
                confirmLabel="Cancel every unfinished job?"
                icon={<Ban size={16} />}
                busy={cancel.isPending}
                onConfirm={() =>
                  cancel.mutate(undefined, {
                    onSuccess: (r) =>
                      toast("success", "Cancelled", r.cancelled.length ? `Jobs cancelled: ${r.cancelled.join(", ")}` : "Nothing was left to cancel"),
                  })
                }
              />
            )}
          </>
        }
      />
      {cancel.error && <ErrorNotice error={cancel.error} title="Could not cancel the workflow" compact />}

      <div className="stats-row">
        <Card className="stats-card stats-card--wide">
          <div className="stats-card__label">Progress</div>
          <ProgressBar size="md" progress={w.progress} state={w.state} label="Workflow progress" />
        </Card>
        <Card className="stats-card">
          <Stat label="Jobs" value={`${w.jobs_finished} / ${w.jobs_total}`} hint="finished" />
        </Card>
        <Card className="stats-card">
          <Stat label="Submitted" value={<RelativeTime iso={w.submitted_at} short />} hint={w.queue_position != null ? `#${w.queue_position} in the admission line` : formatDateTime(w.submitted_at)} />
        </Card>
        <Card className="stats-card">
          <Stat
            label={w.finished_at ? "Ran for" : w.started_at ? "Running for" : "Waiting for"}
            value={formatDuration(secondsBetween(w.started_at ?? w.submitted_at, w.finished_at, now))}
          />
        </Card>
      </div>

      <Card title="Graph" actions={<span className="muted small">{lanes.length} {lanes.length === 1 ? "lane" : "lanes"} · click a job for details</span>} flush>
        <DagCanvas jobs={dagJobs} onSelect={(id) => navigate(`/workflows/${w.id}/jobs/${encodeURIComponent(id)}`)} />
      </Card>

      <Card title="Jobs by lane" flush>
        <div className="lanes">
          {lanes.map(([branch, ids]) => (
            <div key={branch} className="lane">
              <div className="lane__head">
                <GitBranch size={14} />
                <span className="lane__name" title={branch}>
                  {branch}
                </span>
                <span className="muted small">{ids.length} {ids.length === 1 ? "job" : "jobs"}, in order</span>
              </div>
              <ul className="job-list">
                {ids.map((id) => {
                  const job = jobsById.get(id);
                  return job ? <JobRow key={id} workflowId={w.id} job={job} /> : null;
                })}
              </ul>
            </div>
          ))}
        </div>
      </Card>
    </div>
  );
}

function JobRow({ workflowId, job }: { workflowId: string; job: JobView }) {
  const cancel = useCancelJob(workflowId);
  const toast = useToast();
  const [asked, setAsked] = useState(false);
  const cancellable = !isTerminal(job.state);
  const { reset } = cancel;
  useEffect(() => reset(), [job.state, reset]); // a refusal is about the state it was given in
  const href = `/workflows/${workflowId}/jobs/${encodeURIComponent(job.id)}`;
  return (
    <li className={`job-row state-${job.state.toLowerCase()}`} data-job={job.id} data-state={job.state}>
      <div className="job-row__id">
        <Link to={href} className="mono" title={job.id}>
          {job.id}
        </Link>
        <span className="muted small">
          {job.type.replace("_", " ")}
          {job.slide ? ` · ${job.slide}` : ""}
          {job.depends_on.length > 0 ? ` · after ${job.depends_on.join(", ")}` : ""}
        </span>
      </div>
      <div className="job-row__progress">
        <ProgressBar progress={job.progress} state={job.state} label={`${job.id} progress`} />
      </div>
      <div className="job-row__state">
        <StateBadge state={job.state} size="sm" />
        {job.attempt > 1 && <span className="chip">attempt {job.attempt}</span>}
      </div>
      <div className="job-row__actions">
        {cancellable && (
          <ConfirmButton
            size="sm"
            label="Cancel"
            confirmLabel="Cancel this job?"
            busy={cancel.isPending}
            onConfirm={() => {
              setAsked(true);
              cancel.mutate(job.id, { onSuccess: () => toast("success", `Job ${job.id} cancelled`) });
            }}
          />
        )}
        {(job.state === "FAILED" || job.state === "CANCELLED") && <RerunJobButton workflowId={workflowId} jobId={job.id} />}
        <Link to={href} className="btn btn--ghost btn--sm" aria-label={`Open job ${job.id}`}>
          <ChevronRight size={16} />
        </Link>
      </div>
      {job.state === "PENDING" && job.waiting && (
        <div className="job-row__waiting">
          <WaitingReason waiting={job.waiting} />
        </div>
      )}
      {job.reason && (
        <div className="job-row__reason mono" title={job.reason}>
          {job.reason}
        </div>
      )}
      {asked && cancel.error && (
        <div className="job-row__error">
          <ErrorNotice error={cancel.error} title={`Job ${job.id} was not cancelled`} compact />
        </div>
      )}
    </li>
  );
}
