// A finished cell segmentation, measured: the cell under a point, the cells in a box (level-0 px).

import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, unwrap } from "@/shared/api/client";
import type { components } from "@/shared/api/schema";
import { useTenant } from "@/shared/tenant/useTenant";

export type Cell = components["schemas"]["CellView"];
export type Box = { x0: number; y0: number; x1: number; y1: number };

/** The cell at a point, asked when the user clicks; a 404 means no cell is there. */
export function useCellAt(workflowId: string, jobId: string) {
  return useMutation({
    mutationFn: ({ x, y }: { x: number; y: number }) =>
      unwrap(
        api.GET("/v1/workflows/{workflow_id}/jobs/{job_id}/results/cells/at", {
          params: { path: { workflow_id: workflowId, job_id: jobId }, query: { x: Math.max(0, x), y: Math.max(0, y) } },
        }),
      ) as Promise<Cell>, // openapi-fetch widens tuples ([x, y]) to arrays; the gateway sends pairs
  });
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The cells whose centroid is in a box (whole pixels, clamped at 0); the last count stays
 *  shown while the next one loads. */
export function useCellCount(workflowId: string, jobId: string, box: Box | null) {
  const tenant = useTenant();
  const query = box && {
    x0: Math.max(0, Math.floor(box.x0)),
    y0: Math.max(0, Math.floor(box.y0)),
    x1: Math.max(0, Math.ceil(box.x1)),
    y1: Math.max(0, Math.ceil(box.y1)),
  };
  return useQuery({
    queryKey: ["cells", tenant, workflowId, jobId, "count", query],
    enabled: query !== null,
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/workflows/{workflow_id}/jobs/{job_id}/results/cells/count", {
          params: { path: { workflow_id: workflowId, job_id: jobId }, query: query! },
          signal,
        }),
      ),
    placeholderData: keepPreviousData,
    staleTime: Number.POSITIVE_INFINITY,
  });
}
