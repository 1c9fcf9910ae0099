import { render, screen } from "@testing-library/react";
import { afterEach, expect, test, vi } from "vitest";

import { DagCanvas } from "./DagCanvas";

afterEach(() => {
  vi.unstubAllGlobals();
});

test("until the canvas has its size and its nodes are measured, the graph says it is loading", () => {
  // jsdom lays nothing out: no size ever arrives, as on a load that has not got there yet
  vi.stubGlobal(
    "ResizeObserver",
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
  render(<DagCanvas jobs={[{ id: "mask", branch: "qc", type: "tissue_mask", depends_on: [] }]} />);

  expect(screen.getByTestId("dag-loading")).toBeInTheDocument();
  expect(screen.getByRole("status")).toHaveTextContent("Drawing the graph…");
});
