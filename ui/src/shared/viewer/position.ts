// A viewer's position in the page's URL (?zoom=&x=&y=), so that a view can be linked to and
// survives a reload: the centre in level-0 pixels and the zoom as screen px per level-0 px,
// which mean the same on any screen size.

export interface ViewPosition {
  /** screen (CSS) px per level-0 px */
  zoom: number;
  /** the view's centre, level-0 px */
  x: number;
  y: number;
}

const KEYS = ["zoom", "x", "y"] as const;

/** The position a URL's query names, or null when it names none (or a malformed one). */
export function readPosition(params: URLSearchParams): ViewPosition | null {
  const values = KEYS.map((k) => (params.get(k) === null || params.get(k) === "" ? NaN : Number(params.get(k))));
  const [zoom, x, y] = values as [number, number, number];
  if (!values.every(Number.isFinite) || zoom <= 0) return null;
  return { zoom, x, y };
}

/** `params` with the position written in: whole pixels, the zoom to 4 significant digits. */
export function writePosition(params: URLSearchParams, p: ViewPosition): URLSearchParams {
  const out = new URLSearchParams(params);
  out.set("zoom", String(Number(p.zoom.toPrecision(4))));
  out.set("x", String(Math.round(p.x)));
  out.set("y", String(Math.round(p.y)));
  return out;
}
