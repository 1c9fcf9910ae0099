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
