import { describe, expect, it } from "vitest";

import { slidePath, uploadOf } from "./slides";

describe("slide references", () => {
  it("names an upload's owner and file for its delete route", () => {
    expect(uploadOf("uploads/7c1e/biopsy 17.svs")).toEqual({ owner: "7c1e", name: "biopsy 17.svs" });
  });

  it("does not take a shared slide or a nested path for an upload", () => {
    expect(uploadOf("CMU-1-Small-Region.svs")).toBeNull();
    expect(uploadOf("cases/uploads/a.svs")).toBeNull();
    expect(uploadOf("uploads/7c1e/sub/a.svs")).toBeNull();
    expect(uploadOf("uploads//a.svs")).toBeNull();
  });

  it("escapes each segment of a reference but keeps its slashes", () => {
    expect(slidePath("uploads/7c1e/biopsy 17.svs")).toBe("uploads/7c1e/biopsy%2017.svs");
  });
});
