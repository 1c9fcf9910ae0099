import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { expect, test } from "vitest";

import { ApiError } from "@/shared/api/errors";
import { getTenant } from "@/shared/tenant/store";

import { ErrorNotice } from "./ErrorNotice";
import { NotFoundNotice } from "./NotFoundNotice";

test("an outage offers Retry, a 'not found' does not", () => {
  const { rerender } = render(<ErrorNotice error={new ApiError(503, "the event log is unavailable")} onRetry={() => undefined} />);
  expect(screen.getByRole("button", { name: "Retry" })).toBeInTheDocument();
  rerender(<ErrorNotice error={new ApiError(404, "workflow 'x' not found")} onRetry={() => undefined} />);
  expect(screen.queryByRole("button", { name: "Retry" })).not.toBeInTheDocument();
});

test("no such workflow names the tenant, offers a way back and no Retry", () => {
  render(
    <MemoryRouter>
      <NotFoundNotice kind="workflow" id="0b5e3c1a-9f7d-4c2e-8a61-3d2f1e0c9b8a" />
    </MemoryRouter>,
  );
  expect(screen.getByRole("alert")).toHaveTextContent("No such workflow");
  expect(screen.getByRole("alert")).toHaveTextContent(`not found for tenant ${getTenant()}; it may belong to another tenant`);
  expect(screen.getByRole("link", { name: "Go to workflows" })).toHaveAttribute("href", "/workflows");
  expect(screen.queryByRole("button", { name: "Retry" })).not.toBeInTheDocument();
});
