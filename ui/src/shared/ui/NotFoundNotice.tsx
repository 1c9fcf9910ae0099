import { SearchX } from "lucide-react";
import { Link } from "react-router";

import { describeMissing, type MissingKind } from "@/shared/api/ids";
import { useTenant } from "@/shared/tenant/useTenant";

export interface NotFoundNoticeProps {
  kind: MissingKind;
  id: string;
  /** The id cannot name anything (the gateway was not asked). */
  malformed?: boolean;
}

/** An address that names no workflow or job of this tenant: said so, with a way back, no Retry. */
export function NotFoundNotice({ kind, id, malformed = false }: NotFoundNoticeProps) {
  const { title, message } = describeMissing(kind, id, useTenant(), malformed);
  return (
    <div className="notice notice--error" role="alert" data-testid="not-found">
      <div className="notice__icon">
        <SearchX size={18} />
      </div>
      <div className="notice__body">
        <div className="notice__title">{title}</div>
        <div className="notice__message">{message}</div>
      </div>
      <Link to="/workflows" className="btn btn--ghost btn--sm">
        Go to workflows
      </Link>
    </div>
  );
}
