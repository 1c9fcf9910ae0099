import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";

import { getTenant } from "@/shared/tenant/store";

import { WorkflowsPage } from "./WorkflowsPage";

function renderPage() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={["/workflows"]}>
        <WorkflowsPage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

afterEach(() => vi.unstubAllGlobals());

test("lists the tenant's workflows with their progress", async () => {
  const seen: Request[] = [];
  vi.stubGlobal("fetch", async (request: Request) => {
    seen.push(request);
    return Response.json({
      items: [
        {
          id: "0b7e4f7e-5c1a-4d6b-9a53-6f2f0d3c1a11",
          name: "slide 42",
          state: "RUNNING",
          queue_position: null,
          jobs_total: 3,
          jobs_finished: 1,
          progress: { tiles_done: 184, tiles_total: 544, percent: 33.82 },
          submitted_at: "2025-01-01T10:00:00Z",
          started_at: "2025-01-01T10:00:01Z",
          finished_at: null,
          updated_at: "2025-01-01T10:00:35Z",
          last_seq: 57,
        },
      ],
      next_cursor: null,
    });
  });
  renderPage();
  expect(await screen.findByText("slide 42")).toBeInTheDocument();
  expect(screen.getByText("184 / 544 tiles")).toBeInTheDocument();
  expect(screen.getByRole("progressbar", { name: "slide 42 progress" })).toHaveAttribute("aria-valuenow", "33") // 184 / 544 is 33.8 %: rounded down, as the tiles say;
  expect(seen[0]!.headers.get("X-User-ID")).toBe(getTenant());
  expect(new URL(seen[0]!.url).searchParams.get("limit")).toBe("25");
});

test("shows the gateway's message and Retry-After when rate limited", async () => {
  vi.stubGlobal("fetch", async () =>
    Response.json(
      { error: { status: 429, message: "rate limited (api); retry after 2 s", bucket: "api" } },
      { status: 429, headers: { "Retry-After": "2" } },
    ),
  );
  renderPage();
  expect(await screen.findByRole("alert")).toHaveTextContent("rate limited (api); retry after 2 s");
  expect(screen.getByText("retry after 2 s")).toBeInTheDocument();
});
