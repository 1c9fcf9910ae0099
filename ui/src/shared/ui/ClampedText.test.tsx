import { act, render, screen } from "@testing-library/react";
import { afterEach, expect, test, vi } from "vitest";

import { ClampedText } from "./ClampedText";
import { PageHeader } from "./PageHeader";

const NAME = "A very long workflow name that a phone cuts to two lines";

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

test("as a heading, the toggle of a cut name is no part of the heading's name", () => {
  // jsdom lays nothing out: the text reads as cut once it is measured
  let measure = () => {};
  vi.stubGlobal(
    "ResizeObserver",
    class {
      constructor(callback: () => void) {
        measure = callback;
      }
      observe() {}
      disconnect() {}
    },
  );
  vi.spyOn(HTMLElement.prototype, "scrollHeight", "get").mockReturnValue(120);
  render(<PageHeader ownHeading title={<ClampedText text={NAME} heading />} />);
  act(() => measure());

  expect(screen.getAllByRole("heading")).toHaveLength(1);
  expect(screen.getByRole("heading", { level: 1 })).toHaveAccessibleName(NAME);
  expect(screen.getByRole("button", { name: "Show full name" })).toHaveAttribute("aria-expanded", "false");
});
