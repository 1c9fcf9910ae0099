import { readPosition, writePosition } from "./position";

test("a position survives the URL, rounded", () => {
  const params = writePosition(new URLSearchParams("tab=x"), { zoom: 0.123456, x: 1043.6, y: 877.2 });
  expect(params.toString()).toBe("tab=x&zoom=0.1235&x=1044&y=877");
  expect(readPosition(params)).toEqual({ zoom: 0.1235, x: 1044, y: 877 });
});

test("no position, or a malformed one, is none", () => {
  expect(readPosition(new URLSearchParams(""))).toBeNull();
  expect(readPosition(new URLSearchParams("zoom=1&x=3"))).toBeNull();
  expect(readPosition(new URLSearchParams("zoom=0&x=3&y=4"))).toBeNull();
  expect(readPosition(new URLSearchParams("zoom=1&x=abc&y=4"))).toBeNull();
  expect(readPosition(new URLSearchParams("zoom=1&x=&y=4"))).toBeNull();
});
