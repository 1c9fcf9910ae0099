import { NavLink } from "react-router";

import { useAdmission } from "../api/admission";

/** The tenant's admission state in one line, for the sidebar. */
export function AdmissionBadge() {
  const q = useAdmission(8000);
  if (!q.data) return null;
  const a = q.data;
  const text = a.state === "WAITING" ? `waiting · #${a.position ?? "?"}` : a.state === "ACTIVE" ? "running" : "idle";
  return (
    <NavLink to="/admission" data-testid="admission-badge" data-waiting={a.waiting_tenants} className={`admission-badge admission-badge--${a.state.toLowerCase()}`}>
      <span className="admission-badge__dot" />
      <span>{text}</span>
      <span className="muted">
        {a.active_tenants}/{a.max_active_tenants} active · {a.waiting_tenants} waiting
      </span>
    </NavLink>
  );
}
