import { ApiError, errorOf, toApiError } from "./errors";

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, { status, statusText: "x", headers });
}

test("the gateway's error body gives the message, problems and state", async () => {
  const e = await errorOf(
    answer(422, { error: { status: 422, message: "invalid workflow: a; b", problems: ["a", "b"] } }),
  );
  expect(e).toBeInstanceOf(ApiError);
  expect(e.status).toBe(422);
  expect(e.message).toBe("invalid workflow: a; b");
  expect(e.problems).toEqual(["a", "b"]);

  const conflict = await errorOf(answer(409, { error: { status: 409, message: "job 'x' is RUNNING", state: "RUNNING" } }));
  expect(conflict.state).toBe("RUNNING");
});

test("429 carries Retry-After", async () => {
  const e = await errorOf(answer(429, { error: { status: 429, message: "rate limited; retry after 3 s" } }, { "Retry-After": "3" }));
  expect(e.isRateLimited).toBe(true);
  expect(e.retryAfter).toBe(3);
});

test("an answer that is not the gateway's JSON still reads", async () => {
  const e = await errorOf(answer(502, "Bad Gateway from the proxy"));
  expect(e.status).toBe(502);
  expect(e.message).toContain("Bad Gateway from the proxy");
  expect(toApiError(new TypeError("Failed to fetch")).isNetwork).toBe(true);
});
