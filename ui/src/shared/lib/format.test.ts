import { formatBytes, formatDuration, formatPercent, formatRelative } from "./format";

test("durations", () => {
  expect(formatDuration(0.25)).toBe("0.25 s");
  expect(formatDuration(7.94)).toBe("7.9 s");
  expect(formatDuration(75)).toBe("1m 15s");
  expect(formatDuration(3725)).toBe("1h 02m");
  expect(formatDuration(null)).toBe("—");
});

test("a percent short of done never reads 100%", () => {
  expect(formatPercent(99.7)).toBe("99%");
  expect(formatPercent(100)).toBe("100%");
  expect(formatPercent(33.82, 1)).toBe("33.8%");
  expect(formatPercent(24.5)).toBe("24%"); // beside "49 / 200 tiles", as the API rounds
  expect(formatPercent(0.29 * 100, 1)).toBe("29.0%"); // 28.999… in floating point
});

test("bytes and relative times", () => {
  expect(formatBytes(1938955)).toBe("1.9 MB");
  expect(formatBytes(512)).toBe("512 B");
  const now = Date.parse("2025-01-01T10:00:00Z");
  expect(formatRelative("2025-01-01T09:58:00Z", now)).toBe("2 minutes ago");
  expect(formatRelative("2025-01-01T10:00:02Z", now)).toBe("just now");
  expect(formatRelative("2025-01-01T09:59:44Z", now, true)).toBe("16 sec. ago"); // one line in a narrow card
});
