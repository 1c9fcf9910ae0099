// The tenant the UI acts as (the X-User-ID of every request), kept in localStorage so that it
// survives reloads; several can be remembered and switched between. When the gateway checks
// credentials (GET /v1/auth: token or jwt mode) the token is kept beside it: the tenant is then
// the token's, and a refused token is forgotten so that the UI asks for another.

import { isUuid } from "@/shared/api/ids";

const CURRENT = "tessera.tenant";
const KNOWN = "tessera.tenants";
const TOKEN = "tessera.token";
const NOTE = "tessera.tenant-note";

export interface KnownTenant {
  id: string;
  label: string;
}

/** A random (version 4) UUID, also where `crypto.randomUUID` is missing (plain-http origins). */
export function uuid4(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const listeners = new Set<() => void>();

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // private mode: the tenant lasts as long as the page
  }
}

let current: string = (() => {
  const stored = read(CURRENT);
  if (stored && isUuid(stored)) return stored.toLowerCase();
  const fresh = uuid4();
  write(CURRENT, fresh);
  return fresh;
})();

function loadKnown(): KnownTenant[] {
  try {
    const parsed: unknown = JSON.parse(read(KNOWN) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (t): t is KnownTenant =>
        typeof t === "object" && t !== null && isUuid(String(t.id)) && typeof t.label === "string",
    );
  } catch {
    return [];
  }
}

let known: KnownTenant[] = (() => {
  const list = loadKnown();
  if (!list.some((t) => t.id === current)) list.unshift({ id: current, label: "Me" });
  write(KNOWN, JSON.stringify(list));
  return list;
})();

function emit(): void {
  for (const listener of listeners) listener();
}

export function getTenant(): string {
  return current;
}

export function getKnownTenants(): KnownTenant[] {
  return known;
}

export function subscribeTenant(listener: () => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** Act as `id` from now on (remembered with `label` if new). */
export function switchTenant(id: string, label?: string): void {
  const tenant = id.trim().toLowerCase();
  if (!isUuid(tenant)) throw new Error(`not a UUID: ${id}`);
  if (!known.some((t) => t.id === tenant)) {
    known = [...known, { id: tenant, label: label?.trim() || `Tenant ${known.length + 1}` }];
    write(KNOWN, JSON.stringify(known));
  }
  if (tenant !== current) {
    current = tenant;
    write(CURRENT, tenant);
  }
  emit();
}

export function newTenant(label?: string): string {
  const id = uuid4();
  switchTenant(id, label);
  return id;
}

export function renameTenant(id: string, label: string): void {
  known = known.map((t) => (t.id === id ? { ...t, label: label.trim() || t.label } : t));
  write(KNOWN, JSON.stringify(known));
  emit();
}

export function forgetTenant(id: string): void {
  if (id === current) return;
  known = known.filter((t) => t.id !== id);
  write(KNOWN, JSON.stringify(known));
  emit();
}

let token: string | null = read(TOKEN) || null;

/** The bearer credential sent with every request (token and jwt modes), if one is kept. */
export function getToken(): string | null {
  return token;
}

/** Keep `credential` (checked by the gateway: it names `tenant`) and act as its tenant. */
export function signIn(credential: string, tenant: string, label?: string): void {
  token = credential.trim();
  write(TOKEN, token);
  switchTenant(tenant, label);
}

/** Forget the credential (refused, or the user's choice): the UI asks for one again. */
export function signOut(): void {
  if (token === null) return;
  token = null;
  write(TOKEN, null);
  emit();
}

/** Whether the note on what a tenant is was read and dismissed in this browser. */
export function tenantNoteDismissed(): boolean {
  return read(NOTE) === "dismissed";
}

export function dismissTenantNote(): void {
  write(NOTE, "dismissed");
}
