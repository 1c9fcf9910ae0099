import type { WorkflowDetail, WorkflowUpdate } from "@/shared/api/types";

/** A cached workflow with a streamed update applied: newer workflow fields, and each job replaced
 * by the update's when that one is newer (jobs that did not change are not sent). The stream
 * carries no `waiting` reason: a job whose state did not change keeps the one it had. */
export function mergeUpdate(cached: WorkflowDetail, update: WorkflowUpdate): WorkflowDetail {
  const fresh = new Map(update.jobs.map((job) => [job.id, job]));
  const jobs = cached.jobs.map((job) => {
    const next = fresh.get(job.id);
    if (!next || next.last_seq <= job.last_seq) return job;
    return next.waiting == null && next.state === job.state ? { ...next, waiting: job.waiting } : next;
  });
  const workflow = update.workflow.last_seq >= cached.last_seq ? update.workflow : cached;
  return { ...cached, ...workflow, jobs, lanes: cached.lanes };
}
