import { ArrowRight, Layers, Plus, Search, Workflow as WorkflowIcon } from "lucide-react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { WORKFLOW_STATES, type WorkflowState, type WorkflowView } from "@/shared/api/types";
import { formatDuration, secondsBetween, shortId } from "@/shared/lib/format";
import { Button, EmptyState, ErrorNotice, PageHeader, ProgressBar, RelativeTime, Segmented, Skeleton, StateBadge, useNow, useTitle } from "@/shared/ui";

import { isPlainView, useWorkflowList } from "../api/workflows";
import { ListControls, useListView } from "./ListControls";

type Filter = WorkflowState | "ALL";
const FILTERS: { value: Filter; label: string }[] = [
  { value: "ALL", label: "All" },
  ...WORKFLOW_STATES.map((s) => ({ value: s as Filter, label: s.charAt(0) + s.slice(1).toLowerCase() })),
];

function isFilter(value: string | null): value is Filter {
  return value === "ALL" || (WORKFLOW_STATES as readonly string[]).includes(value ?? "");
}

export function WorkflowsPage() {
  const [params, setParams] = useSearchParams();
  const raw = params.get("state");
  const filter: Filter = isFilter(raw) ? raw : "ALL";
  const [view, setView] = useListView();
  const list = useWorkflowList(filter === "ALL" ? null : filter, view);
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const running = items.filter((w) => w.state === "RUNNING").length;
  useTitle(running ? `Workflows (${running} running)` : "Workflows");

  return (
    <div className="page">
      <PageHeader
        title="Workflows"
        subtitle="Every workflow of this tenant, updated live: search by name or id, sort, pick a time range."
        actions={
          <Link to="/workflows/new" className="btn btn--primary btn--md">
            <Plus size={16} />
            <span>New workflow</span>
          </Link>
        }
      />
      <div className="toolbar">
        <Segmented
          label="Filter by state"
          options={FILTERS}
          value={filter}
          onChange={(v) =>
            setParams(
              (current) => {
                const next = new URLSearchParams(current);
                if (v === "ALL") next.delete("state");
                else next.set("state", v);
                return next;
              },
              { replace: true },
            )
          }
        />
        <ListControls view={view} onChange={setView} />
        {list.data && (
          <span className="muted small">
            {items.length}
            {list.hasNextPage ? "+" : ""} shown
          </span>
        )}
      </div>
      {list.error && <ErrorNotice error={list.error} onRetry={() => void list.refetch()} />}
      {list.isPending ? (
        <WorkflowListSkeleton />
      ) : items.length === 0 && !list.error ? (
        !isPlainView(view) ? (
          <EmptyState icon={<Search size={28} />} title="No workflow matches">
            Nothing {filter === "ALL" ? "" : `${filter.toLowerCase()} `}matches this search and time range.
          </EmptyState>
        ) : filter === "ALL" ? (
          <EmptyState
            icon={<WorkflowIcon size={28} />}
            title="No workflows yet"
            action={
              <Link to="/workflows/new" className="btn btn--primary btn--md">
                <Plus size={16} />
                <span>Compose your first workflow</span>
              </Link>
            }
          >
            A workflow is a small graph of jobs — tissue masks, cell segmentation, synthetic load — run in branch lanes
            over your slides.
          </EmptyState>
        ) : (
          <EmptyState icon={<Layers size={28} />} title={`No ${filter.toLowerCase()} workflows`}>
            Nothing in this state right now.
          </EmptyState>
        )
      ) : (
        <ul className="wf-list" data-testid="workflow-list" data-filter={filter}>
          {items.map((w) => (
            <WorkflowRow key={w.id} workflow={w} />
          ))}
        </ul>
      )}
      {list.hasNextPage && (
        <div className="load-more">
          <Button onClick={() => void list.fetchNextPage()} busy={list.isFetchingNextPage}>
            Load more
          </Button>
        </div>
      )}
    </div>
  );
}

function WorkflowRow({ workflow: w }: { workflow: WorkflowView }) {
  const navigate = useNavigate();
  const now = useNow(w.finished_at ? 60_000 : 1000);
  const elapsed = secondsBetween(w.started_at ?? w.submitted_at, w.finished_at, now);
  const href = `/workflows/${w.id}`;
  return (
    <li
      className={`wf-row state-${w.state.toLowerCase()}`}
      data-workflow={w.id}
      data-state={w.state}
      onClick={(e) => {
        if (!(e.target as HTMLElement).closest("a,button")) navigate(href);
      }}
    >
      <div className="wf-row__main">
        <div className="wf-row__title">
          <Link to={href} className="wf-row__name" title={w.name || undefined}>
            {w.name || <span className="muted">Untitled workflow</span>}
          </Link>
          <span className="mono muted small">{shortId(w.id)}</span>
        </div>
        <div className="wf-row__meta">
          <span>
            {w.jobs_finished}/{w.jobs_total} jobs
          </span>
          <span className="dot-sep" />
          <span>
            submitted <RelativeTime iso={w.submitted_at} />
          </span>
          {w.queue_position != null && (
            <>
              <span className="dot-sep" />
              <span className="chip chip--warn">#{w.queue_position} in line</span>
            </>
          )}
        </div>
      </div>
      <div className="wf-row__progress">
        <ProgressBar progress={w.progress} state={w.state} label={`${w.name || w.id} progress`} />
      </div>
      <div className="wf-row__state">
        <StateBadge state={w.state} />
        <span className="muted small" title="elapsed">
          {w.state === "QUEUED" ? "waiting " : ""}
          {formatDuration(elapsed)}
        </span>
      </div>
      <ArrowRight size={16} className="wf-row__chevron" />
    </li>
  );
}

function WorkflowListSkeleton() {
  return (
    <ul className="wf-list" aria-busy>
      {[0, 1, 2, 3].map((i) => (
        <li key={i} className="wf-row wf-row--skeleton">
          <div className="wf-row__main">
            <Skeleton width="40%" height={16} />
            <Skeleton width="60%" height={12} />
          </div>
          <div className="wf-row__progress">
            <Skeleton height={8} />
          </div>
          <div className="wf-row__state">
            <Skeleton width={84} height={22} radius={12} />
          </div>
        </li>
      ))}
    </ul>
  );
}

