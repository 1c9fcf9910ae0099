import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, unwrap } from "@/shared/api/client";
import { slidesQuery } from "@/shared/api/slides";
import type { WorkflowSpec } from "@/shared/api/types";
import { useTenant } from "@/shared/tenant/useTenant";

export function useSubmitWorkflow() {
  const tenant = useTenant();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (spec: WorkflowSpec) => unwrap(api.POST("/v1/workflows", { body: spec })),
    // lists are keyed ["workflows", tenant, ...]; the stream also brings the new one in
    onSuccess: () => client.invalidateQueries({ queryKey: ["workflows", tenant, "list"] }),
  });
}

export function useSlideChoices() {
  const tenant = useTenant();
  return useQuery({ ...slidesQuery(tenant), retry: false });
}
