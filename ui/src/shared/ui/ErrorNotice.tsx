import { AlertTriangle, Hourglass, WifiOff } from "lucide-react";

import { toApiError } from "@/shared/api/errors";

import { Button } from "./Button";

interface ErrorNoticeProps {
  error: unknown;
  title?: string;
  onRetry?: () => void;
  compact?: boolean;
}

/** An API error as the user should read it: the gateway's message, its problems, Retry-After.
 * "Not found" offers no Retry: asking again finds nothing more. */
export function ErrorNotice({ error, title, onRetry, compact }: ErrorNoticeProps) {
  if (error == null) return null;
  const e = toApiError(error);
  const icon = e.isNetwork ? <WifiOff size={18} /> : e.isRateLimited ? <Hourglass size={18} /> : <AlertTriangle size={18} />;
  const heading = title ?? (e.isRateLimited ? "Slow down" : e.isNetwork ? "Gateway unreachable" : `Error ${e.status}`);
  return (
    <div className={`notice notice--error${compact ? " notice--compact" : ""}`} role="alert">
      <div className="notice__icon">{icon}</div>
      <div className="notice__body">
        <div className="notice__title">
          {heading}
          {e.retryAfter != null && <span className="chip chip--warn">retry after {e.retryAfter} s</span>}
          {e.state && <span className="chip">state {e.state}</span>}
        </div>
        <div className="notice__message">{e.message}</div>
        {e.problems.length > 1 && (
          <ul className="notice__problems">
            {e.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
      </div>
      {onRetry && e.status !== 404 && (
        <Button size="sm" variant="ghost" onClick={onRetry}>
          Retry
        </Button>
      )}
    </div>
  );
}
