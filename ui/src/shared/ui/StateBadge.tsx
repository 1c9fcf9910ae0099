import { Ban, CheckCircle2, CircleDashed, Clock3, Loader, SkipForward, XCircle } from "lucide-react";
import type { ReactNode } from "react";

import type { JobState, WorkflowState } from "@/shared/api/types";

// every state the API can send has its icon (a new one in the OpenAPI fails the typecheck)
const ICONS: Record<JobState | WorkflowState, ReactNode> = {
  QUEUED: <Clock3 size={13} />,
  PENDING: <CircleDashed size={13} />,
  RUNNING: <Loader size={13} className="spin-slow" />,
  SUCCEEDED: <CheckCircle2 size={13} />,
  FAILED: <XCircle size={13} />,
  CANCELLED: <Ban size={13} />,
  SKIPPED: <SkipForward size={13} />,
};

export function stateClass(state: string): string {
  return `state-${state.toLowerCase()}`;
}

export function StateBadge({ state, size = "md" }: { state: string; size?: "sm" | "md" }) {
  return (
    <span className={`badge badge--${size} ${stateClass(state)}`} data-state={state}>
      {ICONS[state as JobState | WorkflowState] ?? null}
      {state.charAt(0) + state.slice(1).toLowerCase()}
    </span>
  );
}
