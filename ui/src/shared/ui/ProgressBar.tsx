import { formatCount, formatPercent } from "@/shared/lib/format";

import { stateClass } from "./StateBadge";

interface ProgressBarProps {
  percent: number;
  state?: string;
  done?: number;
  total?: number;
  label?: string;
  size?: "xs" | "sm" | "md";
  showText?: boolean;
}

export function ProgressBar({ percent, state = "RUNNING", done, total, label, size = "sm", showText = true }: ProgressBarProps) {
  const value = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
  const tiles = done != null && total != null && total > 0 ? `${formatCount(done)} / ${formatCount(total)} tiles` : null;
  return (
    <div className={`progress progress--${size} ${stateClass(state)}`}>
      <div
        className="progress__track"
        role="progressbar"
        aria-label={label ?? "progress"}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(value)}
      >
        <div className="progress__fill" style={{ width: `${value}%` }} />
      </div>
      {showText && (
        <div className="progress__text">
          <span className="progress__pct">{formatPercent(value)}</span>
          {tiles && <span className="progress__tiles">{tiles}</span>}
        </div>
      )}
    </div>
  );
}
