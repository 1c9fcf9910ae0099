import { formatClock } from "@/shared/lib/format";

export interface ThroughputPoint {
  at: string;
  rate: number;
}

const W = 600;
const H = 120;

/** Tiles/s over time as a small area chart (hand-rolled SVG: one path, no axes library). */
export function ThroughputChart({ points, label, empty = "No tiles done yet." }: { points: ThroughputPoint[]; label: string; empty?: string }) {
  const peak = points.reduce((m, p) => Math.max(m, p.rate), 0);
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last || peak <= 0) return <div className="muted small throughput throughput--empty">{empty}</div>;
  const top = niceCeiling(peak);
  const step = points.length > 1 ? W / (points.length - 1) : W;
  const xy = points.map((p, i) => [points.length > 1 ? i * step : W / 2, H - (p.rate / top) * H] as const);
  const line = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const area = `${line} L${(xy.length > 1 ? W : W / 2).toFixed(1)},${H} L${(xy.length > 1 ? 0 : W / 2).toFixed(1)},${H} Z`;
  const mean = points.reduce((s, p) => s + p.rate, 0) / points.length;
  return (
    <figure className="throughput" data-testid="throughput">
      <div className="throughput__scale small muted">{formatRate(top)} tiles/s</div>
      <svg className="throughput__svg" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${label}: peak ${formatRate(peak)} tiles/s, mean ${formatRate(mean)} tiles/s`}>
        <line x1={0} x2={W} y1={H / 2} y2={H / 2} className="throughput__grid" />
        <path d={area} className="throughput__area" />
        <path d={line} className="throughput__line" vectorEffect="non-scaling-stroke" />
      </svg>
      <figcaption className="throughput__axis small muted">
        <span>{formatClock(first.at)}</span>
        <span>
          peak {formatRate(peak)} · mean {formatRate(mean)} tiles/s
        </span>
        <span>{formatClock(last.at)}</span>
      </figcaption>
    </figure>
  );
}

function niceCeiling(n: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(n));
  const steps = [1, 2, 2.5, 5, 10];
  return (steps.find((s) => s * magnitude >= n) ?? 10) * magnitude;
}

function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2);
}
