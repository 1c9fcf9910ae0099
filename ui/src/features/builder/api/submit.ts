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

/** The workflow a draft is cloned from ("Edit as new", `?from=<id>`). */
export function useCloneSource(id: string | null) {
  const tenant = useTenant();
  return useQuery({
    queryKey: ["workflows", tenant, "detail", id ?? ""],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id ?? "" } }, signal })),
    enabled: id !== null,
    retry: false,
  });
}
