import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";

import { getTenant } from "@/shared/tenant/store";

import { TenantNote } from "./TenantNote";

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
}

function noted(mode: "header" | "token") {
  vi.stubGlobal("fetch", async () => answer({ mode, tenant_header: "X-User-ID", tenant: null, jwt: null }));
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <TenantNote />
    </QueryClientProvider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

test("the first visit explains the tenant until it is dismissed, for good", async () => {
  const first = noted("header");
  const note = await screen.findByRole("complementary", { name: "About your tenant" });
  expect(note).toHaveTextContent(`tenant ${getTenant()} as its X-User-ID header`);
  expect(note).toHaveTextContent("another browser or a private window starts as a new tenant");
  await userEvent.setup().click(screen.getByRole("button", { name: "Got it" }));
  expect(screen.queryByRole("complementary", { name: "About your tenant" })).not.toBeInTheDocument();
  first.unmount();

  noted("header"); // a later visit
  await act(() => new Promise((r) => setTimeout(r, 20))); // the gateway answered
  expect(screen.queryByRole("complementary", { name: "About your tenant" })).not.toBeInTheDocument();
});

test("a gateway that checks tokens needs no note: the token names the tenant", async () => {
  noted("token");
  await act(() => new Promise((r) => setTimeout(r, 20))); // the gateway answered
  expect(screen.queryByRole("complementary", { name: "About your tenant" })).not.toBeInTheDocument();
});
