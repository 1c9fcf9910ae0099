import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback } from "react";

import type { WorkflowDetail, WorkflowUpdate, WorkflowView } from "@/shared/api/types";
import { mergeUpdate } from "@/shared/stream/mergeUpdate";
import { useWorkflowUpdates } from "@/shared/stream/StreamProvider";
import { useTenant } from "@/shared/tenant/useTenant";

import { isPlainView, workflowKeys, type ListView, type WorkflowPages } from "../api/workflows";

/** Put one streamed workflow into the cached lists of `tenant`. Exported for tests. */
export function applyToLists(client: QueryClient, tenant: string, view: WorkflowView): void {
  const lists = client.getQueriesData<WorkflowPages>({ queryKey: workflowKeys.lists(tenant) });
  for (const [key, data] of lists) {
    if (!data) continue;
    const filter = key[3];
    const plain = isPlainView(key[4] as ListView | undefined);
    const matches = filter === "ALL" || filter === view.state;
    let found = false;
    const pages = data.pages.map((page) => {
      const index = page.items.findIndex((w) => w.id === view.id);
      if (index < 0) return page;
      found = true;
      const current = page.items[index]!;
      if (current.last_seq > view.last_seq) return page;
      const items = matches ? page.items.map((w, i) => (i === index ? view : w)) : page.items.filter((w) => w.id !== view.id);
      return { ...page, items };
    });
    // a searched, sorted or time-ranged list is the gateway's to fill: only its rows change here
    if (!found && matches && plain) {
      const first = pages[0];
      const newest = first?.items[0];
      // lists are newest first: a workflow submitted after the newest one shown goes on top
      if (first && (!newest || view.submitted_at >= newest.submitted_at)) {
        pages[0] = { ...first, items: [view, ...first.items] };
      }
    }
    client.setQueryData<WorkflowPages>(key, { ...data, pages });
  }
}

function statesChanged(before: WorkflowDetail, after: WorkflowDetail): boolean {
  if (before.state !== after.state) return true;
  const old = new Map(before.jobs.map((j) => [j.id, j.state]));
  return after.jobs.some((j) => old.get(j.id) !== j.state);
}

/** Keep every cached workflow list and detail of this tenant current from the live stream. */
export function useLiveWorkflows(): void {
  const client = useQueryClient();
  const tenant = useTenant();
  const onWorkflow = useCallback(
    (update: WorkflowUpdate) => {
      // a cached detail takes the jobs that changed; without one there is nothing to merge into
      // (the detail page fetches the whole workflow when it opens)
      const key = workflowKeys.detail(tenant, update.workflow.id);
      const cached = client.getQueryData<WorkflowDetail>(key);
      if (cached) {
        const merged = mergeUpdate(cached, update);
        client.setQueryData(key, merged);
        // what a pending job waits for changes with the other jobs' states and is not streamed:
        // when a state changed, the detail is read again (progress alone changes no reason)
        if (statesChanged(cached, merged) && merged.jobs.some((j) => j.state === "PENDING")) {
          void client.invalidateQueries({ queryKey: key, exact: true });
        }
      }
      applyToLists(client, tenant, update.workflow);
    },
    [client, tenant],
  );
  useWorkflowUpdates(onWorkflow);
}
