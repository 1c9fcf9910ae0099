import type { Progress } from "@/shared/api/types";
import { formatCount, formatDuration, formatPercent } from "@/shared/lib/format";

import { stateClass } from "./StateBadge";

interface ProgressBarProps {
  /** A job's or workflow's figures from the API: percent, tiles, ended share, estimate, ETA. */
  progress?: Progress;
  /** Without `progress`: a plain percent (an upload), with optional tiles. */
  percent?: number;
  state?: string;
  done?: number;
  total?: number;
  label?: string;
  size?: "xs" | "sm" | "md";
  showText?: boolean;
}

const clamp = (n: number, hi = 100) => Math.max(0, Math.min(hi, Number.isFinite(n) ? n : 0));

/** The done share filled; the share of jobs that ended early (cancelled, failed, skipped)
 * hatched after it, never counted as done; "est." while the total holds an estimate. */
export function ProgressBar({ progress, percent, state = "RUNNING", done, total, label, size = "sm", showText = true }: ProgressBarProps) {
  const value = clamp(progress?.percent ?? percent ?? 0);
  const tilesDone = progress?.tiles_done ?? done;
  const tilesTotal = progress?.tiles_total ?? total;
  const ended = progress?.tiles_ended ?? 0;
  const estimated = progress?.estimated ?? false;
  const endedShare = tilesTotal ? clamp((100 * ended) / tilesTotal, 100 - value) : 0;
  const tiles = tilesDone != null && tilesTotal != null && tilesTotal > 0 ? `${formatCount(tilesDone)} / ${estimated ? "~" : ""}${formatCount(tilesTotal)} tiles` : null;
  const eta = state === "RUNNING" ? progress?.eta_s : null;
  const words = [formatPercent(value), tiles, ended > 0 ? `${formatCount(ended)} ended early` : null, estimated ? "total estimated" : null].filter(Boolean).join(", ");
  return (
    <div className={`progress progress--${size} ${stateClass(state)}`} data-percent={value} data-estimated={estimated || undefined}>
      <div className="progress__track" role="progressbar" aria-label={label ?? "progress"} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.floor(value)} aria-valuetext={words}>
        <div className="progress__fill" style={{ width: `${value}%` }} />
        {endedShare > 0 && <div className="progress__ended" style={{ left: `${value}%`, width: `${endedShare}%` }} title={`${formatCount(ended)} tiles ended early: not done`} />}
      </div>
      {showText && (
        <div className="progress__text">
          <span className="progress__pct">
            {formatPercent(value)}
            {estimated && (
              <span className="progress__est" title="the total holds an estimate for jobs not planned yet">
                est.
              </span>
            )}
          </span>
          {tiles && <span className="progress__tiles">{tiles}</span>}
          {ended > 0 && <span className="progress__ended-text">{formatCount(ended)} ended early</span>}
          {eta != null && (
            <span className="progress__eta" data-testid="eta" title={progress?.rate != null ? `${progress.rate.toFixed(1)} tiles/s over the last 30 s` : undefined}>
              ETA {formatDuration(eta)}
            </span>
          )}
        </div>
      )}
    </div>
  );
}
