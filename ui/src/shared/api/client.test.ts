import { afterEach, expect, test, vi } from "vitest";

import { getTenant, getToken, signIn, signOut } from "@/shared/tenant/store";

import { api, describeAuth, tenantHeaders, unwrap } from "./client";

const TENANT = "7c0a4b8e-1111-4a4a-9a9a-000000000001";

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  signOut();
});

test("without a token only the tenant is sent", () => {
  expect(tenantHeaders()).toEqual({ "X-User-ID": getTenant() });
});

test("signed in, every request carries the token and acts as its tenant", async () => {
  signIn("tsr_0123456789ab_secret", TENANT);
  expect(getTenant()).toBe(TENANT);
  expect(tenantHeaders()).toEqual({ "X-User-ID": TENANT, Authorization: "Bearer tsr_0123456789ab_secret" });
  const fetch = vi.fn(async (_: Request) => answer(200, { items: [], next_cursor: null }));
  vi.stubGlobal("fetch", fetch);
  await unwrap(api.GET("/v1/workflows"));
  const sent = fetch.mock.calls[0]![0];
  expect(sent.headers.get("Authorization")).toBe("Bearer tsr_0123456789ab_secret");
  expect(sent.headers.get("X-User-ID")).toBe(TENANT);
});

test("a refused token is forgotten, so that the UI asks for another", async () => {
  signIn("tsr_0123456789ab_revoked", TENANT);
  vi.stubGlobal("fetch", async () => answer(401, { error: { status: 401, message: "this API token was revoked" } }));
  await expect(unwrap(api.GET("/v1/workflows"))).rejects.toMatchObject({ status: 401, message: "this API token was revoked" });
  expect(getToken()).toBeNull();
  expect(tenantHeaders()).toEqual({ "X-User-ID": TENANT });
});

test("describeAuth checks a candidate token without keeping it", async () => {
  const fetch = vi.fn(async (_url: string, _init: RequestInit) => answer(200, { mode: "token", tenant_header: "X-User-ID", tenant: TENANT, jwt: null }));
  vi.stubGlobal("fetch", fetch);
  expect((await describeAuth(" tsr_0123456789ab_new ")).tenant).toBe(TENANT);
  expect(fetch.mock.calls[0]![0]).toMatch(/\/v1\/auth$/);
  expect(fetch.mock.calls[0]![1].headers).toEqual({ Authorization: "Bearer tsr_0123456789ab_new" });
  expect(getToken()).toBeNull();
  vi.stubGlobal("fetch", async () => answer(401, { error: { status: 401, message: "unknown API token" } }));
  await expect(describeAuth("tsr_0123456789ab_bad")).rejects.toMatchObject({ status: 401 });
});
