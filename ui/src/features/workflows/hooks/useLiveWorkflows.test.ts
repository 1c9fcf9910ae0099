import { QueryClient } from "@tanstack/react-query";

import type { WorkflowState, WorkflowView } from "@/shared/api/types";

import { workflowKeys, type WorkflowPages } from "../api/workflows";
import { applyToLists } from "./useLiveWorkflows";

const T = "7c0a4b8e-1111-4a4a-9a9a-000000000001";

function view(id: string, state: WorkflowState, seq: number, submitted = "2025-01-01T10:00:00Z"): WorkflowView {
  return {
    id,
    name: id,
    state,
    queue_position: null,
    jobs_total: 1,
    jobs_finished: 0,
    progress: { tiles_done: 0, tiles_total: 0, percent: 0 },
    submitted_at: submitted,
    started_at: null,
    finished_at: null,
    updated_at: submitted,
    last_seq: seq,
  };
}

const pages = (...items: WorkflowView[]): WorkflowPages => ({ pages: [{ items, next_cursor: null }], pageParams: [null] });

test("a streamed workflow updates, joins or leaves each cached list", () => {
  const client = new QueryClient();
  client.setQueryData(workflowKeys.list(T, null), pages(view("b", "RUNNING", 5), view("a", "QUEUED", 3)));
  client.setQueryData(workflowKeys.list(T, "RUNNING"), pages(view("b", "RUNNING", 5)));

  applyToLists(client, T, view("b", "SUCCEEDED", 9));
  applyToLists(client, T, view("c", "QUEUED", 10, "2025-01-01T11:00:00Z"));
  applyToLists(client, T, view("a", "QUEUED", 2)); // older than what is shown: ignored

  const all = client.getQueryData<WorkflowPages>(workflowKeys.list(T, null))!.pages[0]!.items;
  expect(all.map((w) => [w.id, w.state, w.last_seq])).toEqual([
    ["c", "QUEUED", 10],
    ["b", "SUCCEEDED", 9],
    ["a", "QUEUED", 3],
  ]);
  const running = client.getQueryData<WorkflowPages>(workflowKeys.list(T, "RUNNING"))!.pages[0]!.items;
  expect(running).toEqual([]);
});

test("a searched list takes no new workflow from the stream, only changes to its own rows", () => {
  const client = new QueryClient();
  const searched = workflowKeys.list(T, null, { q: "slide", sort: "created", range: "" });
  client.setQueryData(searched, pages(view("b", "RUNNING", 5)));
  applyToLists(client, T, view("c", "QUEUED", 10, "2025-01-01T11:00:00Z")); // may not match "slide"
  applyToLists(client, T, view("b", "SUCCEEDED", 9));
  const items = client.getQueryData<WorkflowPages>(searched)!.pages[0]!.items;
  expect(items.map((w) => [w.id, w.state])).toEqual([["b", "SUCCEEDED"]]);
});
