import { render, screen } from "@testing-library/react";

import { ProgressBar } from "./ProgressBar";

const figures = { tiles_done: 49, tiles_total: 200, tiles_ended: 50, estimated: true, percent: 24.5, rate: 7, eta_s: 14.4 };

test("the ended share is shown apart from the done share, and the estimate is said", () => {
  const { container } = render(<ProgressBar progress={figures} state="RUNNING" label="w" />);
  const bar = screen.getByRole("progressbar", { name: "w" });
  expect(bar).toHaveAttribute("aria-valuenow", "24");
  expect(bar).toHaveAttribute("aria-valuetext", "24%, 49 / ~200 tiles, 50 ended early, total estimated");
  expect(container.querySelector<HTMLElement>(".progress__fill")!.style.width).toBe("24.5%");
  const ended = container.querySelector<HTMLElement>(".progress__ended")!;
  expect([ended.style.left, ended.style.width]).toEqual(["24.5%", "25%"]);
  expect(screen.getByText("est.")).toBeInTheDocument();
  expect(screen.getByTestId("eta")).toHaveTextContent("ETA 14 s");
});

test("a cancelled workflow's bar is not full and shows no ETA", () => {
  const { container } = render(<ProgressBar progress={{ ...figures, estimated: false, percent: 23.3, tiles_ended: 161, tiles_total: 210 }} state="CANCELLED" />);
  expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "23");
  expect(container.querySelector<HTMLElement>(".progress__fill")!.style.width).toBe("23.3%");
  expect(screen.queryByTestId("eta")).toBeNull();
  expect(screen.queryByText("est.")).toBeNull();
});
