import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";

import { ConfirmButton } from "./ConfirmButton";

afterEach(() => {
  vi.useRealTimers();
});

test("the first click arms the button, the second acts", async () => {
  const onConfirm = vi.fn();
  const user = userEvent.setup();
  render(<ConfirmButton label="Delete upload" confirmLabel="Click again to delete" onConfirm={onConfirm} />);
  await user.click(screen.getByRole("button", { name: "Delete upload" }));
  expect(onConfirm).not.toHaveBeenCalled();
  await user.click(screen.getByRole("button", { name: "Click again to delete" }));
  expect(onConfirm).toHaveBeenCalledTimes(1);
  expect(screen.getByRole("button", { name: "Delete upload" })).toBeInTheDocument();
});

test("an armed button disarms itself after 4 s", async () => {
  vi.useFakeTimers();
  const onConfirm = vi.fn();
  render(<ConfirmButton label="Cancel workflow" confirmLabel="Cancel every unfinished job?" onConfirm={onConfirm} />);
  act(() => screen.getByRole("button", { name: "Cancel workflow" }).click());
  expect(screen.getByRole("button", { name: "Cancel every unfinished job?" })).toBeInTheDocument();
  act(() => vi.advanceTimersByTime(4100));
  act(() => screen.getByRole("button", { name: "Cancel workflow" }).click());
  expect(onConfirm).not.toHaveBeenCalled();
});
