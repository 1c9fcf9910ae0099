import { GitBranch, Hourglass, Link2, RotateCcw, Users } from "lucide-react";
import type { ReactNode } from "react";

import type { Waiting } from "@/shared/api/types";

import { RelativeTime } from "./Time";

const ICONS: Record<Waiting["kind"], ReactNode> = {
  admission: <Users size={13} />,
  lane: <GitBranch size={13} />,
  dependencies: <Link2 size={13} />,
  retry: <RotateCcw size={13} />,
  worker_slot: <Hourglass size={13} />,
};

/** What a PENDING job waits for, in the gateway's words (plus a live countdown for a retry). */
export function WaitingReason({ waiting }: { waiting: Waiting }) {
  return (
    <div className="waiting-reason" data-testid="waiting-reason" data-kind={waiting.kind}>
      {ICONS[waiting.kind]}
      <span>{waiting.words}</span>
      {waiting.kind === "retry" && waiting.details?.until && (
        <span className="muted">
          (<RelativeTime iso={waiting.details.until} />)
        </span>
      )}
    </div>
  );
}
