import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";

import { api, unwrap } from "@/shared/api/client";
import { ApiError } from "@/shared/api/errors";
import { isWorkflowId } from "@/shared/api/ids";
import { isTerminal, type WorkflowDetail, type WorkflowPage, type WorkflowState } from "@/shared/api/types";
import { useTenant } from "@/shared/tenant/useTenant";
import { useToast } from "@/shared/ui";

export const PAGE_SIZE = 25;

/** What the list shows beyond the state filter: a search, a sort and a time range (all in the
 * page's URL, so a view is linkable). */
export interface ListView {
  q: string;
  sort: "created" | "created-asc" | "name" | "name-desc" | "state";
  range: "" | "1h" | "24h" | "7d" | "30d";
}
export const DEFAULT_VIEW: ListView = { q: "", sort: "created", range: "" };
const RANGE_MS: Record<Exclude<ListView["range"], "">, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

/** Whether a list shows every workflow newest first: only such a list takes new ones on top. */
export const isPlainView = (view: ListView | undefined): boolean =>
  !view || (view.q === "" && view.range === "" && view.sort === "created");

export const workflowKeys = {
  all: (tenant: string) => ["workflows", tenant] as const,
  lists: (tenant: string) => ["workflows", tenant, "list"] as const,
  list: (tenant: string, state: WorkflowState | null, view: ListView = DEFAULT_VIEW) =>
    ["workflows", tenant, "list", state ?? "ALL", view] as const,
  detail: (tenant: string, id: string) => ["workflows", tenant, "detail", id] as const,
};

function listQuery(view: ListView) {
  const [sort, descending] = view.sort.split("-") as ["created" | "name" | "state", string | undefined];
  const order = view.sort === "created-asc" ? "asc" : descending === "desc" ? "desc" : undefined;
  return {
    sort,
    ...(order ? { order: order as "asc" | "desc" } : {}),
    ...(view.q.trim() ? { q: view.q.trim() } : {}),
    // the range ends now: counted from the moment the page is fetched
    ...(view.range ? { submitted_after: new Date(Date.now() - RANGE_MS[view.range]).toISOString() } : {}),
  };
}

export type WorkflowPages = InfiniteData<WorkflowPage, string | null>;

export function useWorkflowList(state: WorkflowState | null, view: ListView = DEFAULT_VIEW) {
  const tenant = useTenant();
  return useInfiniteQuery({
    queryKey: workflowKeys.list(tenant, state, view),
    queryFn: ({ pageParam, signal }) =>
      unwrap(
        api.GET("/v1/workflows", {
          params: {
            query: { limit: PAGE_SIZE, ...listQuery(view), ...(state ? { state } : {}), ...(pageParam ? { cursor: pageParam } : {}) },
          },
          signal,
        }),
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor ?? null,
    // the live stream keeps lists fresh; this is the fallback when it is down
    refetchInterval: 30_000,
  });
}

/** One workflow; `justSubmitted` waits out the moment before the read model has it. */
export function useWorkflow(id: string, justSubmitted = false) {
  const tenant = useTenant();
  return useQuery({
    queryKey: workflowKeys.detail(tenant, id),
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } }, signal })),
    enabled: isWorkflowId(id), // a malformed id names nothing: not worth a request
    // a workflow just submitted reaches the read model a few milliseconds after its 202
    retry: (count, error) => (error instanceof ApiError && error.status === 404 ? justSubmitted && count < 6 : count < 2),
    retryDelay: (count) => Math.min(2000, 150 * 2 ** count),
    refetchInterval: (query) => {
      const data = query.state.data;
      return data && isTerminal(data.state) ? false : 15_000;
    },
  });
}

export function useCancelWorkflow(id: string) {
  const tenant = useTenant();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/workflows/{workflow_id}/cancel", { params: { path: { workflow_id: id } } })),
    onSettled: () => client.invalidateQueries({ queryKey: workflowKeys.detail(tenant, id) }),
  });
}

export function useCancelJob(workflowId: string) {
  const tenant = useTenant();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (jobId: string) =>
      unwrap(
        api.POST("/v1/workflows/{workflow_id}/jobs/{job_id}/cancel", {
          params: { path: { workflow_id: workflowId, job_id: jobId } },
        }),
      ),
    onSettled: () => client.invalidateQueries({ queryKey: workflowKeys.detail(tenant, workflowId) }),
  });
}

/** Re-run a FAILED or CANCELLED job (and what its end skipped). The toast is here, not in the
 * button: the button goes away with the job's state, before a component's own callback runs. */
export function useRerunJob(workflowId: string) {
  const tenant = useTenant();
  const client = useQueryClient();
  const toast = useToast();
  return useMutation({
    mutationFn: (jobId: string) =>
      unwrap(
        api.POST("/v1/workflows/{workflow_id}/jobs/{job_id}/rerun", {
          params: { path: { workflow_id: workflowId, job_id: jobId } },
        }),
      ),
    onSuccess: (r) => {
      const others = r.rerun.filter((id) => id !== r.job_id);
      toast("success", `Job ${r.job_id} re-run`, others.length ? `Pending again with it: ${others.join(", ")}` : "Pending again, with a new attempt");
    },
    onError: (error, jobId) => toast("error", `Job ${jobId} was not re-run`, error.message),
    onSettled: () => client.invalidateQueries({ queryKey: workflowKeys.detail(tenant, workflowId) }),
  });
}

export type { WorkflowDetail };
