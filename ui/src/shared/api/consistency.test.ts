import { afterEach, describe, expect, it, vi } from "vitest";

import { api, lastToken, TOKEN_HEADER } from "./client";

afterEach(() => vi.unstubAllGlobals());

describe("the consistency token", () => {
  it("is taken from a write's answer and sent back on the reads after it", async () => {
    const sent: Array<[string, string | null]> = [];
    vi.stubGlobal("fetch", async (request: Request) => {
      sent.push([request.method, request.headers.get(TOKEN_HEADER)]);
      if (request.method === "POST") {
        return Response.json({ workflow_id: "w", state: "QUEUED", event_seq: 42 }, { status: 202, headers: { [TOKEN_HEADER]: "42" } });
      }
      return Response.json({ items: [], next_cursor: null });
    });
    await api.GET("/v1/workflows");
    await api.POST("/v1/workflows", { body: { jobs: [] } as never });
    await api.GET("/v1/workflows");

    expect(sent).toEqual([
      ["GET", null],
      ["POST", null],
      ["GET", "42"],
    ]);
    expect(lastToken()).toBe(42);
  });
});
