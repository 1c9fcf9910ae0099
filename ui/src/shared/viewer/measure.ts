// What a slide viewer shows of its scale: a scale bar, the magnification, lengths and areas.

const STEPS = [1, 2, 5];

/** A length in µm as a person reads it: "250 µm", "1.5 mm", "0.42 µm". */
export function formatLength(um: number): string {
  if (um >= 1000) return `${trim(um / 1000)} mm`;
  return `${trim(um)} µm`;
}

/** An area in µm² ("42.5 µm²"), or in pixels² when the pixel size is unknown. */
export function formatArea(um2: number | null | undefined, px: number): string {
  return um2 == null ? `${trim(px)} px²` : `${trim(um2)} µm²`;
}

function trim(value: number): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return Number(value.toFixed(digits)).toLocaleString("en-US");
}

export interface ScaleBar {
  /** the bar's length on screen, CSS px */
  px: number;
  label: string;
  /** as on a microscope: 10× for 1 µm per screen pixel, so 40× is 0.25 µm per pixel */
  magnification: string;
}

/**
 * The scale bar for a view: the longest 1-2-5 length (µm) that fits in `maxPx` screen pixels,
 * or null when the slide's pixel size is unknown. `zoom` is screen px per level-0 px.
 */
export function scaleBar(mpp: number | null | undefined, zoom: number, maxPx = 120): ScaleBar | null {
  if (mpp == null || !(mpp > 0) || !(zoom > 0)) return null;
  const umPerScreenPx = mpp / zoom;
  const widest = umPerScreenPx * maxPx;
  let length = 10 ** Math.floor(Math.log10(widest));
  for (const step of STEPS) {
    const candidate = step * 10 ** Math.floor(Math.log10(widest));
    if (candidate <= widest) length = candidate;
  }
  const mag = 10 / umPerScreenPx;
  return { px: length / umPerScreenPx, label: formatLength(length), magnification: `${mag >= 10 ? Math.round(mag) : Number(mag.toPrecision(2))}×` };
}

/** A level-0 point as µm (when the pixel size is known) and px: "x 1,234.5 µm · y 88 µm". */
export function formatPoint(x: number, y: number, mpp: number | null | undefined): { um: string | null; px: string } {
  const px = `${Math.round(x).toLocaleString("en-US")}, ${Math.round(y).toLocaleString("en-US")} px`;
  if (mpp == null || !(mpp > 0)) return { um: null, px };
  const um = (v: number) => (v * mpp).toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  return { um: `${um(x)}, ${um(y)} µm`, px };
}
