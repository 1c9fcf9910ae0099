import createClient, { type Middleware } from "openapi-fetch";

import { getTenant, getToken, signOut } from "@/shared/tenant/store";

import { ApiError, errorOf } from "./errors";
import type { components, paths } from "./schema";

export const TENANT_HEADER = "X-User-ID";

const tenantHeader: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(tenantHeaders())) request.headers.set(k, v);
    return request;
  },
  onResponse({ response }) {
    forgetRefusedToken(response);
    return response;
  },
};

/** A 401 while a token was sent: the token is wrong, expired or revoked; forget it so that the
 * UI asks for another (nothing else can make the request succeed). */
function forgetRefusedToken(response: Response): void {
  if (response.status === 401 && getToken() !== null) signOut();
}

/** The consistency token: a write answers the log sequence it produced, and a read that sends
 * it back is served once the gateway's read models hold that write (read-your-writes). */
export const TOKEN_HEADER = "X-Tessera-Seq";

let lastWrite = 0;

/** Remember a write's token; the reads made after it send the newest one back. */
export function rememberToken(value: string | null): void {
  const seq = Number(value);
  if (value && Number.isSafeInteger(seq) && seq > lastWrite) lastWrite = seq;
}

/** The newest token of this tab's writes (0: none yet). */
export function lastToken(): number {
  return lastWrite;
}

const consistency: Middleware = {
  onRequest({ request }) {
    if (request.method === "GET" && lastWrite > 0) request.headers.set(TOKEN_HEADER, String(lastWrite));
    return request;
  },
  onResponse({ request, response }) {
    if (request.method !== "GET") rememberToken(response.headers.get(TOKEN_HEADER));
    return response;
  },
};

/** The typed client of the gateway's REST API; every request carries the current tenant, and
 * every read the token of the tab's last write. */
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: (request) => globalThis.fetch(request), // looked up per call (tests replace it)
});
api.use(tenantHeader, consistency);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The body of a successful answer, or an `ApiError` built from the error answer. */
export async function unwrap<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (cause) {
    throw ApiError.network(cause);
  }
  if (answer.error !== undefined || !answer.response.ok) {
    throw ApiError.from(answer.response, answer.error);
  }
  return answer.data as T;
}

/** Headers for requests made outside the typed client (images, downloads, tiles, uploads):
 * the tenant, and the credential when one is kept (token and jwt modes). */
export function tenantHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { [TENANT_HEADER]: getTenant(), Authorization: `Bearer ${token}` } : { [TENANT_HEADER]: getTenant() };
}

export type AuthDescriptor = components["schemas"]["AuthDescriptor"];

/** What the gateway wants (GET /v1/auth); with `token`, also checks it: its tenant comes back,
 * and an invalid one is an `ApiError` 401. Nothing is kept. */
export async function describeAuth(token?: string): Promise<AuthDescriptor> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token.trim()}` } : {};
  let response: Response;
  try {
    response = await globalThis.fetch(`${globalThis.location?.origin ?? ""}/v1/auth`, { headers });
  } catch (cause) {
    throw ApiError.network(cause);
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as AuthDescriptor;
}

/** GET a path with the tenant header, as a blob; `ApiError` when the answer is an error. */
export async function fetchBlob(path: string, signal?: AbortSignal): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(path, { headers: tenantHeaders(), signal: signal ?? null });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw ApiError.network(cause);
  }
  forgetRefusedToken(response);
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}
