import { Info } from "lucide-react";
import { useState } from "react";

import { dismissTenantNote, tenantNoteDismissed } from "@/shared/tenant/store";
import { useTenant } from "@/shared/tenant/useTenant";
import { Button } from "@/shared/ui";

import { useAuthMode } from "../api/auth";

/** What the tenant is, on the first visit of a browser where the UI makes it up (header mode):
 * the id every request carries, and that another browser starts as another tenant. */
export function TenantNote() {
  const auth = useAuthMode();
  const tenant = useTenant();
  const [dismissed, setDismissed] = useState(tenantNoteDismissed);
  if (dismissed || auth.data?.mode !== "header") return null;
  return (
    <aside className="notice notice--info tenant-note" aria-label="About your tenant" data-testid="tenant-note">
      <div className="notice__icon">
        <Info size={18} />
      </div>
      <div className="notice__body">
        <div className="notice__title">You act as a tenant of this browser</div>
        <div className="notice__message">
          Every request carries tenant <span className="mono">{tenant}</span> as its <span className="mono">{auth.data.tenant_header}</span> header, the
          API&apos;s tenant id, and you see only that tenant&apos;s workflows and uploads. The id is kept in this browser: another browser or a private
          window starts as a new tenant. Copy, switch or add tenants from the menu at the top right.
        </div>
      </div>
      <Button
        size="sm"
        variant="ghost"
        onClick={() => {
          dismissTenantNote();
          setDismissed(true);
        }}
      >
        Got it
      </Button>
    </aside>
  );
}
