import { formatArea, formatLength, formatPoint, scaleBar } from "./measure";

test("the scale bar is the longest 1-2-5 length that fits", () => {
  // 0.5 µm/px at full resolution: 120 px is 60 µm, so 50 µm (100 px)
  expect(scaleBar(0.5, 1)).toEqual({ px: 100, label: "50 µm", magnification: "20×" });
  // zoomed out 1/64: 32 µm per screen px, 120 px is 3.84 mm -> 2 mm (62.5 px)
  expect(scaleBar(0.5, 1 / 64)).toEqual({ px: 62.5, label: "2 mm", magnification: "0.31×" });
  // 40× scanner at 2× its resolution: 0.125 µm per screen px -> 10 µm (80 px), 80×
  expect(scaleBar(0.25, 2)).toEqual({ px: 80, label: "10 µm", magnification: "80×" });
  const bar = scaleBar(0.499, 0.37)!;
  expect(bar.px).toBeLessThanOrEqual(120);
  expect(bar.px).toBeGreaterThan(120 / 2.5);
});

test("no scale without a pixel size", () => {
  expect(scaleBar(null, 1)).toBeNull();
  expect(scaleBar(0, 1)).toBeNull();
  expect(scaleBar(0.5, 0)).toBeNull();
});

test("lengths, areas and points as people read them", () => {
  expect(formatLength(1500)).toBe("1.5 mm");
  expect(formatLength(0.42)).toBe("0.42 µm");
  expect(formatArea(52.794, 212)).toBe("52.8 µm²");
  expect(formatArea(null, 212)).toBe("212 px²");
  expect(formatPoint(2468.2, 100, 0.5)).toEqual({ um: "1,234.1, 50.0 µm", px: "2,468, 100 px" });
  expect(formatPoint(10, 20, null)).toEqual({ um: null, px: "10, 20 px" });
});
