import { ChevronRight, Download, FileJson, FileSpreadsheet, Image as ImageIcon, Map as MapIcon } from "lucide-react";
import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router";

import { toApiError } from "@/shared/api/errors";
import { isJobId, isWorkflowId } from "@/shared/api/ids";
import { isTerminal, type JobDetail } from "@/shared/api/types";
import { formatClock, formatCount, formatDateTime, formatDuration, formatPercent, shortId } from "@/shared/lib/format";
import { Button, Card, ErrorNotice, Loading, NotFoundNotice, type NotFoundNoticeProps, PageHeader, ProgressBar, RelativeTime, Stat, StateBadge, ThroughputChart, useTitle, useToast, WaitingReason } from "@/shared/ui";

import { downloadResult, RESULT_FILES, useJob, useJobSummary, useLiveJob, useParentWorkflow } from "../api/jobs";
import { JobLog } from "./JobLog";
import { SlideViewerCard } from "./SlideViewerCard";
import { TileProgress } from "./TileProgress";

export function JobDetailPage() {
  const { workflowId = "", jobId = "" } = useParams();
  const job = useJob(workflowId, jobId);
  const workflow = useParentWorkflow(workflowId);
  useLiveJob(workflowId, jobId);
  useTitle(`${jobId} · ${workflow.data?.name || "job"}`);

  const crumbs = (
    <span className="crumbs">
      <Link to="/workflows">Workflows</Link>
      <ChevronRight size={14} />
      <Link to={`/workflows/${workflowId}`} className="crumbs__name" title={workflow.data?.name || workflowId}>
        {workflow.data?.name || shortId(workflowId)}
      </Link>
      <ChevronRight size={14} />
      <span>job</span>
    </span>
  );
  const missing = missingIn(workflowId, jobId, workflow.error, job.error);
  if (missing)
    return (
      <div className="page">
        <PageHeader eyebrow={crumbs} title={<span className="mono">{jobId}</span>} />
        <NotFoundNotice {...missing} />
      </div>
    );
  if (job.isPending) return <Loading label="Loading job…" />;
  if (job.error)
    return (
      <div className="page">
        <PageHeader eyebrow={crumbs} title={jobId} />
        <ErrorNotice error={job.error} onRetry={() => void job.refetch()} />
      </div>
    );
  const j = job.data;
  return (
    <div className="page" data-testid="job-detail" data-state={j.state}>
      <PageHeader
        eyebrow={crumbs}
        title={
          <span className="title-with-badge">
            <span className="mono">{j.id}</span>
            <StateBadge state={j.state} />
          </span>
        }
        subtitle={
          <>
            {j.type.replace("_", " ")} · branch <span className="mono">{j.branch}</span>
            {j.slide && (
              <>
                {" "}
                · slide <span className="mono">{j.slide}</span>
              </>
            )}
            {j.depends_on.length > 0 && <> · after {j.depends_on.join(", ")}</>}
          </>
        }
      />
      {j.state === "PENDING" && j.waiting && (
        <div className="notice notice--info">
          <div className="notice__body">
            <div className="notice__title">Why it waits</div>
            <WaitingReason waiting={j.waiting} />
          </div>
        </div>
      )}
      {j.reason && (
        <div className={`notice ${j.state === "FAILED" ? "notice--error" : "notice--info"}`}>
          <div className="notice__body">
            <div className="notice__title">{j.state === "FAILED" ? "Why it failed" : "Note"}</div>
            <div className="notice__message mono">{j.reason}</div>
          </div>
        </div>
      )}

      <div className="stats-row">
        <Card className="stats-card stats-card--wide">
          <div className="stats-card__label">Tiles</div>
          <ProgressBar size="md" progress={j.progress} state={j.state} label="Job progress" />
        </Card>
        <Card className="stats-card">
          <Stat label="Attempt" value={`${j.attempt || "—"} of ${j.retries + 1}`} hint={j.retries ? `${j.retries} ${j.retries === 1 ? "retry" : "retries"} allowed` : "no retries"} />
        </Card>
        <Card className="stats-card">
          <Stat label="Queued" value={formatDuration(j.timings.queued_seconds)} hint="submission → first start" />
        </Card>
        <Card className="stats-card">
          <Stat label={isTerminal(j.state) ? "Ran" : "Running"} value={formatDuration(j.timings.running_seconds)} hint={`total ${formatDuration(j.timings.total_seconds)}`} />
        </Card>
        {j.tissue_fraction != null && (
          <Card className="stats-card">
            <Stat label="Tissue" value={formatPercent(j.tissue_fraction * 100, 1)} hint="of the slide's area" />
          </Card>
        )}
      </div>

      {j.slide && <SlideViewerCard job={{ ...j, slide: j.slide }} />}

      <div className="two-col">
        <Card title="Throughput" actions={j.state === "RUNNING" && j.progress.rate != null ? <span className="muted small">{j.progress.rate.toFixed(1)} tiles/s now</span> : undefined}>
          <ThroughputChart points={j.throughput} label="Job throughput" empty={isTerminal(j.state) ? "No tiles were done." : "Tiles per second appear here once the job makes progress."} />
        </Card>
        <Card title="Log" actions={<span className="muted small">from the event log</span>}>
          <JobLog job={j} />
        </Card>
      </div>

      <div className="two-col">
        <Card title="Tile progress">
          <TileProgress done={j.progress.tiles_done} total={j.progress.tiles_total} state={j.state} />
        </Card>
        <Card title="Results">
          <Results job={j} />
        </Card>
      </div>

      <div className="two-col">
        <Card title="History" actions={<span className="muted small">from the event log</span>}>
          <History job={j} />
        </Card>
        <div className="stack">
          <Card title="Attempts" flush>
            <Attempts job={j} />
          </Card>
          <Card title="Parameters">
            <dl className="kv">
              {Object.entries(j.params).map(([k, v]) => (
                <div key={k} className="kv__row">
                  <dt>{k.replace(/_/g, " ")}</dt>
                  <dd className="mono">{v === null ? "auto" : String(v)}</dd>
                </div>
              ))}
            </dl>
          </Card>
        </div>
      </div>
    </div>
  );
}

/** What the address names that is not there: a malformed id, another tenant's (or no) workflow,
 * or a job the workflow does not have; null while nothing says so. */
function missingIn(workflowId: string, jobId: string, workflowError: unknown, jobError: unknown): NotFoundNoticeProps | null {
  const absent = (error: unknown) => error != null && toApiError(error).status === 404;
  if (!isWorkflowId(workflowId) || absent(workflowError)) return { kind: "workflow", id: workflowId, malformed: !isWorkflowId(workflowId) };
  if (!isJobId(jobId) || absent(jobError)) return { kind: "job", id: jobId, malformed: !isJobId(jobId) };
  return null;
}

function History({ job }: { job: JobDetail }) {
  if (job.history.length === 0) return <div className="muted">Nothing has happened to this job yet: it waits for its lane, its dependencies and a worker.</div>;
  return (
    <ol className="timeline" data-testid="job-history">
      {job.history.map((h) => (
        <li key={h.seq} className={`timeline__item state-${h.state.toLowerCase()}`}>
          <span className="timeline__dot" />
          <div className="timeline__body">
            <div className="timeline__head">
              <span className="timeline__event">{h.event_type}</span>
              <StateBadge state={h.state} size="sm" />
              {h.attempt > 0 && <span className="chip">attempt {h.attempt}</span>}
            </div>
            {h.detail && <div className="timeline__detail mono">{h.detail}</div>}
            <div className="timeline__time muted small" title={formatDateTime(h.at)}>
              {formatClock(h.at)} · <RelativeTime iso={h.at} /> · seq {h.seq}
            </div>
          </div>
        </li>
      ))}
    </ol>
  );
}

function Attempts({ job }: { job: JobDetail }) {
  if (job.attempts.length === 0) return <div className="card__pad muted">No attempt has started.</div>;
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th>#</th>
            <th>Started</th>
            <th>Took</th>
            <th>Outcome</th>
          </tr>
        </thead>
        <tbody>
          {job.attempts.map((a) => (
            <tr key={a.attempt}>
              <td className="mono">{a.attempt}</td>
              <td>{formatClock(a.started_at)}</td>
              <td>{formatDuration(a.seconds)}</td>
              <td>
                {a.outcome ? <StateBadge state={a.outcome} size="sm" /> : <StateBadge state="RUNNING" size="sm" />}
                {a.reason && <div className="muted small mono">{a.reason}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const FILE_ICONS: Record<string, ReactNode> = {
  summary: <FileJson size={16} />,
  "cells.geojson": <MapIcon size={16} />,
  "cells.parquet": <FileSpreadsheet size={16} />,
  "mask.png": <ImageIcon size={16} />,
};

function Results({ job }: { job: JobDetail }) {
  const done = job.state === "SUCCEEDED";
  const summary = useJobSummary(job.workflow_id, job.id, done);
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (!done) {
    return <div className="muted">{isTerminal(job.state) ? `No results: the job ${job.state.toLowerCase()}.` : "Results appear here when the job succeeds."}</div>;
  }
  const files = RESULT_FILES.filter((f) => f.types === null || (f.types as readonly string[]).includes(job.type));
  const facts = summary.data ? summaryFacts(summary.data) : [];
  return (
    <div className="results">
      {facts.length > 0 && (
        <dl className="facts" data-testid="summary">
          {facts.map(([k, v]) => (
            <div key={k} className="facts__item">
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
      {summary.error && <ErrorNotice error={summary.error} compact title="No summary" />}
      <div className="downloads">
        {files.map((f) => (
          <Button
            key={f.name}
            size="sm"
            icon={FILE_ICONS[f.name] ?? <Download size={16} />}
            busy={busy === f.name}
            title={f.note}
            onClick={() => {
              setBusy(f.name);
              setError(null);
              downloadResult(job.workflow_id, job.id, f.name, f.file)
                .then(() => toast("success", `Downloading ${f.file}`))
                .catch(setError)
                .finally(() => setBusy(null));
            }}
          >
            {f.label}
          </Button>
        ))}
      </div>
      {error != null && <ErrorNotice error={error} compact title="Download failed" />}
    </div>
  );
}

/** The summary's top-level facts worth a glance (the whole file is a download away). */
function summaryFacts(summary: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(summary)) {
    if (typeof v === "number") out.push([k.replace(/_/g, " "), Number.isInteger(v) ? formatCount(v) : v.toFixed(3)]);
    else if (typeof v === "string" && v.length <= 48) out.push([k.replace(/_/g, " "), v]);
    else if (k === "timings" && v && typeof v === "object") {
      for (const [tk, tv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof tv === "number") out.push([tk.replace(/_s$/, "").replace(/_/g, " "), formatDuration(tv)]);
      }
    }
    if (out.length >= 12) break;
  }
  return out;
}
