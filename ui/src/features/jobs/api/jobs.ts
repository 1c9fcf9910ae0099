import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";

import { api, fetchBlob, unwrap } from "@/shared/api/client";
import { isJobId, isWorkflowId } from "@/shared/api/ids";
import { isTerminal, type JobDetail, type WorkflowUpdate } from "@/shared/api/types";
import { useWorkflowUpdates } from "@/shared/stream/StreamProvider";
import { useTenant } from "@/shared/tenant/useTenant";

const jobKey = (tenant: string, workflowId: string, jobId: string) => ["jobs", tenant, workflowId, jobId] as const;

export function useJob(workflowId: string, jobId: string) {
  const tenant = useTenant();
  return useQuery({
    queryKey: jobKey(tenant, workflowId, jobId),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/workflows/{workflow_id}/jobs/{job_id}", {
          params: { path: { workflow_id: workflowId, job_id: jobId } },
          signal,
        }),
      ),
    enabled: isWorkflowId(workflowId) && isJobId(jobId),
    // while it runs, its throughput and log grow: the stream patches the rest at once
    refetchInterval: (query) => {
      const state = query.state.data?.state;
      return state && isTerminal(state) ? false : state === "RUNNING" ? 5_000 : 20_000;
    },
  });
}

/** The workflow around a job (name, lanes); shares the cache entry the workflow pages use. */
export function useParentWorkflow(workflowId: string) {
  const tenant = useTenant();
  return useQuery({
    queryKey: ["workflows", tenant, "detail", workflowId],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workflows/{workflow_id}", { params: { path: { workflow_id: workflowId } }, signal })),
    enabled: isWorkflowId(workflowId),
  });
}

/** Patch the job from the live stream at once, then refetch it for its history. */
export function useLiveJob(workflowId: string, jobId: string): void {
  const tenant = useTenant();
  const client = useQueryClient();
  const onWorkflow = useCallback(
    (update: WorkflowUpdate) => {
      if (update.workflow.id !== workflowId) return;
      const fresh = update.jobs.find((j) => j.id === jobId); // only the jobs that changed
      const key = jobKey(tenant, workflowId, jobId);
      const cached = client.getQueryData<JobDetail>(key);
      if (!fresh || !cached || fresh.last_seq <= cached.last_seq) return;
      const stateChanged = fresh.state !== cached.state || fresh.attempt !== cached.attempt;
      client.setQueryData<JobDetail>(key, { ...cached, ...fresh });
      if (stateChanged) void client.invalidateQueries({ queryKey: key });
    },
    [client, tenant, workflowId, jobId],
  );
  useWorkflowUpdates(onWorkflow);
}

export function useJobSummary(workflowId: string, jobId: string, enabled: boolean) {
  const tenant = useTenant();
  return useQuery({
    queryKey: [...jobKey(tenant, workflowId, jobId), "summary"],
    enabled,
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/workflows/{workflow_id}/jobs/{job_id}/results/summary", {
          params: { path: { workflow_id: workflowId, job_id: jobId } },
          signal,
        }),
      ) as Promise<Record<string, unknown>>,
    staleTime: Number.POSITIVE_INFINITY,
  });
}

export const RESULT_FILES = [
  { name: "summary", file: "summary.json", label: "Summary", types: null, note: "cells, tissue area, tiles, timings" },
  { name: "cells.geojson", file: "cells.geojson", label: "Cells (GeoJSON)", types: ["cell_segmentation"], note: "QuPath-importable detections" },
  { name: "cells.parquet", file: "cells.parquet", label: "Cells (Parquet)", types: ["cell_segmentation"], note: "id, centroid, area, bbox, contour" },
  { name: "mask.png", file: "mask.png", label: "Tissue mask (PNG)", types: ["tissue_mask"], note: "mask preview" },
] as const;

export function resultUrl(workflowId: string, jobId: string, name: string): string {
  return `/v1/workflows/${workflowId}/jobs/${encodeURIComponent(jobId)}/results/${name}`;
}

/** Download a result with the tenant header (a plain link cannot send it). */
export async function downloadResult(workflowId: string, jobId: string, name: string, file: string): Promise<void> {
  const blob = await fetchBlob(resultUrl(workflowId, jobId, name));
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `${jobId}-${file}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}
