import { render, screen } from "@testing-library/react";

import type { DraftJob } from "../model";
import type { Problem } from "../problems";
import { JobCard } from "./JobCard";

const job: DraftJob = { key: "k", id: "cells", type: "cell_segmentation", branch: "", slide: "gone.svs", depends_on: [], retries: 0, params: { tile_size: "500" } };
const problem = (field: Problem["target"] extends infer T ? (T extends { kind: "job"; field?: infer F } ? F : never) : never, message: string): Problem => ({
  target: { kind: "job", key: "k", field },
  code: String(field),
  message,
  from: "gateway",
});

test("a field's problem describes its input and is no part of its name", () => {
  const problems = [problem("slide", "no such file under the data root (gone.svs)"), problem("params.tile_size", "a multiple of 16"), problem("id", 'another job has the id "cells"')];
  render(<JobCard job={job} index={0} others={[]} branches={[]} slides={undefined} problems={problems} onChange={() => {}} onRemove={() => {}} onDuplicate={() => {}} />);

  const slide = screen.getByRole("textbox", { name: "Slide required" });
  expect(slide).toHaveAccessibleDescription("no such file under the data root (gone.svs)");
  expect(slide).toBeInvalid();
  expect(screen.getByRole("textbox", { name: "Job id" })).toHaveAccessibleDescription('another job has the id "cells"');
  const tile = screen.getByRole("textbox", { name: /^tile size$/i });
  expect(tile).toHaveAccessibleDescription("a multiple of 16");
  expect(screen.getByRole("combobox", { name: "Branch lane" })).not.toHaveAccessibleDescription();
});

test("a parameter without a problem is described by its hint", () => {
  render(<JobCard job={{ ...job, params: {} }} index={0} others={[]} branches={[]} slides={undefined} problems={[]} onChange={() => {}} onRemove={() => {}} onDuplicate={() => {}} />);
  const tile = screen.getByRole("textbox", { name: /^tile size$/i });
  expect(tile).not.toBeInvalid();
  expect(tile.getAttribute("aria-describedby")).toBeTruthy();
  expect(tile).toHaveAccessibleDescription(document.getElementById(tile.getAttribute("aria-describedby")!)!.textContent!);
});
