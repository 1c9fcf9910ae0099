import { Ban, CheckCircle2, CircleDashed, Clock3, Loader, SkipForward, XCircle } from "lucide-react";
import type { ReactNode } from "react";

const ICONS: Record<string, ReactNode> = {
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
      {ICONS[state] ?? null}
      {state.charAt(0) + state.slice(1).toLowerCase()}
    </span>
  );
}
