import { RotateCcw } from "lucide-react";

import { Button } from "@/shared/ui";

import { useRerunJob } from "../api/workflows";

/** "Re-run" on a FAILED or CANCELLED job: it and what its end skipped go back to PENDING. */
export function RerunJobButton({ workflowId, jobId }: { workflowId: string; jobId: string }) {
  const rerun = useRerunJob(workflowId);
  return (
    <Button size="sm" variant="ghost" icon={<RotateCcw size={14} />} busy={rerun.isPending} onClick={() => rerun.mutate(jobId)} aria-label={`Re-run job ${jobId}`}>
      Re-run
    </Button>
  );
}
