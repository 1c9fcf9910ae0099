import { Check, ChevronDown, ClipboardPaste, LogOut, Plus, Trash2 } from "lucide-react";
import { useEffect, useRef, useState } from "react";

import { isUuid } from "@/shared/api/ids";
import { forgetTenant, newTenant, renameTenant, signOut, switchTenant } from "@/shared/tenant/store";
import { useKnownTenants, useTenant } from "@/shared/tenant/useTenant";
import { CopyButton } from "@/shared/ui";

import { useAuthMode } from "../api/auth";

/** A stable colour per tenant, so that switching is visible at a glance. */
export function tenantHue(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

export function TenantAvatar({ id, size = 26 }: { id: string; size?: number }) {
  const hue = tenantHue(id);
  return (
    <span
      className="avatar"
      style={{ width: size, height: size, background: `linear-gradient(135deg, hsl(${hue} 70% 58%), hsl(${(hue + 50) % 360} 70% 45%))` }}
      aria-hidden
    >
      {id.slice(0, 2).toUpperCase()}
    </span>
  );
}

export function TenantSwitcher() {
  const tenant = useTenant();
  const known = useKnownTenants();
  // token and jwt modes: the tenant is the credential's, changed by signing in with another
  const verified = (useAuthMode().data?.mode ?? "header") !== "header";
  const [open, setOpen] = useState(false);
  const [paste, setPaste] = useState("");
  const [error, setError] = useState<string | null>(null);
  const root = useRef<HTMLDivElement>(null);
  const current = known.find((t) => t.id === tenant);

  useEffect(() => {
    if (!open) return undefined;
    const close = (e: MouseEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);

  const adoptPasted = () => {
    if (!isUuid(paste)) {
      setError("That is not a UUID");
      return;
    }
    switchTenant(paste);
    setPaste("");
    setError(null);
    setOpen(false);
  };

  return (
    <div className="tenant" ref={root}>
      <button type="button" className="tenant__button" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen((v) => !v)} data-testid="tenant-button" title={tenant}>
        <TenantAvatar id={tenant} />
        <span className="tenant__text">
          <span className="tenant__label">{current?.label ?? "Tenant"}</span>
          <span className="tenant__id mono">{tenant.slice(0, 8)}…</span>
        </span>
        <ChevronDown size={14} />
      </button>
      {open && (
        <div className="tenant__menu" role="menu">
          <div className="tenant__section">
            <div className="tenant__heading">Acting as</div>
            <div className="tenant__current">
              <input
                className="input input--sm"
                aria-label="Tenant name"
                defaultValue={current?.label ?? ""}
                onBlur={(e) => renameTenant(tenant, e.target.value)}
              />
              <div className="tenant__uuid mono">
                {tenant}
                <CopyButton value={tenant} label="Copy tenant id" />
              </div>
              {verified ? (
                <div className="muted small" data-testid="tenant-explained">
                  The tenant of your token; the gateway checks the token with every request. Each tenant sees only its own workflows.
                </div>
              ) : (
                <div className="muted small" data-testid="tenant-explained">
                  Sent as the X-User-ID header with every request: it names the tenant whose workflows you see and submit. This gateway trusts it as sent (header
                  mode, for development), so any UUID works; pick or paste one, or make a new one.
                </div>
              )}
            </div>
          </div>
          {verified && (
            <div className="tenant__section">
              <button
                type="button"
                role="menuitem"
                className="tenant__pick"
                onClick={() => {
                  signOut();
                  setOpen(false);
                }}
              >
                <LogOut size={16} /> <span>Sign out (use another token)</span>
              </button>
            </div>
          )}
          {!verified && known.length > 1 && (
            <div className="tenant__section">
              <div className="tenant__heading">Switch to</div>
              {known
                .filter((t) => t.id !== tenant)
                .map((t) => (
                  <div key={t.id} className="tenant__item">
                    <button
                      type="button"
                      role="menuitem"
                      className="tenant__pick"
                      onClick={() => {
                        switchTenant(t.id);
                        setOpen(false);
                      }}
                    >
                      <TenantAvatar id={t.id} size={22} />
                      <span>{t.label}</span>
                      <span className="mono muted small">{t.id.slice(0, 8)}</span>
                    </button>
                    <button type="button" className="icon-btn" aria-label={`Forget ${t.label}`} onClick={() => forgetTenant(t.id)}>
                      <Trash2 size={13} />
                    </button>
                  </div>
                ))}
            </div>
          )}
          {!verified && (
          <div className="tenant__section">
            <button
              type="button"
              role="menuitem"
              className="tenant__pick"
              onClick={() => {
                newTenant();
                setOpen(false);
              }}
            >
              <Plus size={16} /> <span>New tenant</span>
            </button>
            <div className="tenant__paste">
              <input
                className="input input--sm mono"
                placeholder="paste a tenant UUID"
                aria-label="Tenant UUID"
                value={paste}
                onChange={(e) => {
                  setPaste(e.target.value);
                  setError(null);
                }}
                onKeyDown={(e) => e.key === "Enter" && adoptPasted()}
              />
              <button type="button" className="icon-btn" aria-label="Use this tenant" onClick={adoptPasted} disabled={!paste}>
                {isUuid(paste) ? <Check size={15} /> : <ClipboardPaste size={15} />}
              </button>
            </div>
            {error && <div className="field__error">{error}</div>}
          </div>
          )}
        </div>
      )}
    </div>
  );
}
