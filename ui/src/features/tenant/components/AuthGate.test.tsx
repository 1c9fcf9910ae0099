import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";

import { getTenant, getToken, signOut } from "@/shared/tenant/store";

import { AuthGate } from "./AuthGate";

const TENANT = "7c0a4b8e-2222-4a4a-9a9a-000000000002";

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function gated() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <AuthGate>
        <p>the app</p>
      </AuthGate>
    </QueryClientProvider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  signOut();
});

test("header mode shows the app at once", async () => {
  vi.stubGlobal("fetch", async () => answer(200, { mode: "header", tenant_header: "X-User-ID", tenant: null, jwt: null }));
  gated();
  expect(await screen.findByText("the app")).toBeInTheDocument();
});

test("token mode asks for a token, explains a refusal, and keeps a good one with its tenant", async () => {
  vi.stubGlobal("fetch", async (_url: string, init?: RequestInit) => {
    const auth = (init?.headers as Record<string, string> | undefined)?.["Authorization"];
    if (auth === undefined) return answer(200, { mode: "token", tenant_header: "X-User-ID", tenant: null, jwt: null });
    if (auth === "Bearer tsr_0123456789ab_good") return answer(200, { mode: "token", tenant_header: "X-User-ID", tenant: TENANT, jwt: null });
    return answer(401, { error: { status: 401, message: "unknown API token" } });
  });
  const user = userEvent.setup();
  gated();
  const field = await screen.findByLabelText("Token");
  expect(screen.queryByText("the app")).toBeNull();
  await user.type(field, "tsr_0123456789ab_wrong");
  await user.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByText("unknown API token")).toBeInTheDocument();
  expect(getToken()).toBeNull();
  await user.clear(field);
  await user.type(field, "tsr_0123456789ab_good");
  await user.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByText("the app")).toBeInTheDocument();
  expect(getToken()).toBe("tsr_0123456789ab_good");
  expect(getTenant()).toBe(TENANT);
});

test("jwt mode names the issuer and audience to get a token from", async () => {
  vi.stubGlobal("fetch", async () =>
    answer(200, { mode: "jwt", tenant_header: "X-User-ID", tenant: null, jwt: { issuer: "https://login.example.org", audience: "tessera", tenant_claim: "tenant_id" } }),
  );
  gated();
  expect(await screen.findByText("https://login.example.org")).toBeInTheDocument();
  expect(screen.getByText("Access token")).toBeInTheDocument();
});
