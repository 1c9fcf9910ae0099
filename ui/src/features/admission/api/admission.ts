import { useQuery } from "@tanstack/react-query";

import { api, unwrap } from "@/shared/api/client";
import { useTenant } from "@/shared/tenant/useTenant";

export function useAdmission(intervalMs = 4000) {
  const tenant = useTenant();
  return useQuery({
    queryKey: ["admission", tenant],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/admission", { signal })),
    refetchInterval: intervalMs,
  });
}

/** This tenant's tiles/s over the last minutes (its own work only). */
export function useTenantThroughput(minutes = 10, intervalMs = 5000) {
  const tenant = useTenant();
  return useQuery({
    queryKey: ["admission", tenant, "throughput", minutes],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/admission/throughput", { params: { query: { minutes } }, signal })),
    refetchInterval: intervalMs,
  });
}
