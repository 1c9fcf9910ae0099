import { useQuery } from "@tanstack/react-query";

import { describeAuth } from "@/shared/api/client";

/** How this gateway authenticates (GET /v1/auth; it needs no credential and does not change). */
export function useAuthMode() {
  return useQuery({ queryKey: ["auth"], queryFn: () => describeAuth(), staleTime: Infinity });
}
