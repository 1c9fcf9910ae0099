import type { WorkflowView } from "@/shared/api/types";

import { LiveStream } from "./liveStream";

class FakeSocket {
  static opened: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(
    readonly url: string,
    readonly protocols?: string[],
  ) {
    FakeSocket.opened.push(this);
  }
  close() {
    this.closed = true;
  }
  send(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

const workflow = (id: string, seq: number) => ({ id, last_seq: seq }) as unknown as WorkflowView;

beforeEach(() => {
  FakeSocket.opened = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function open(tenant = "7c0a4b8e-1111-4a4a-9a9a-000000000001") {
  const stream = new LiveStream({ tenant, origin: "https://tessera.example", socket: (url) => new FakeSocket(url) as unknown as WebSocket, minDelayMs: 100 });
  const got: [string, number][] = [];
  stream.onWorkflow((update) => got.push([update.workflow.id, update.seq]));
  stream.start();
  return { stream, got };
}

test("connects with the tenant, goes live on ready and keeps the cursor", () => {
  const { stream, got } = open();
  const socket = FakeSocket.opened[0]!;
  expect(socket.url).toBe("wss://tessera.example/v1/stream?tenant=7c0a4b8e-1111-4a4a-9a9a-000000000001&cursor=now");
  socket.onopen?.();
  expect(stream.status.kind).toBe("catching-up");
  socket.send({ type: "workflow", seq: 5, workflow: workflow("a", 5), jobs: [], jobs_since: 0 });
  socket.send({ type: "workflow", seq: 9, workflow: workflow("b", 9), jobs: [], jobs_since: 0 });
  socket.send({ type: "ready", seq: 12 });
  expect(stream.status.kind).toBe("live");
  expect(got).toEqual([["a", 5], ["b", 9]]);
  expect(stream.cursor).toBe(12);
});

test("after a drop it reconnects from its cursor and ignores what it already has", () => {
  const { stream, got } = open();
  const first = FakeSocket.opened[0]!;
  first.send({ type: "workflow", seq: 7, workflow: workflow("a", 7), jobs: [], jobs_since: 0 });
  first.onclose?.({ code: 1013, reason: "fell behind" });
  expect(stream.status).toMatchObject({ kind: "waiting", reason: "fell behind" });
  vi.advanceTimersByTime(1000);
  const second = FakeSocket.opened[1]!;
  expect(second.url).toContain("cursor=7");
  second.send({ type: "workflow", seq: 7, workflow: workflow("a", 7), jobs: [], jobs_since: 0 });
  second.send({ type: "workflow", seq: 8, workflow: workflow("a", 8), jobs: [], jobs_since: 0 });
  expect(got).toEqual([["a", 7], ["a", 8]]);
});

test("a refused tenant is not retried; stop closes the socket", () => {
  const { stream } = open();
  FakeSocket.opened[0]!.onclose?.({ code: 4400, reason: "X-User-ID must be a UUID" });
  expect(stream.status).toEqual({ kind: "refused", reason: "X-User-ID must be a UUID" });
  vi.advanceTimersByTime(60_000);
  expect(FakeSocket.opened).toHaveLength(1);
  stream.retryNow();
  expect(FakeSocket.opened).toHaveLength(2);
  stream.stop();
  expect(FakeSocket.opened[1]!.closed).toBe(true);
  expect(stream.status.kind).toBe("closed");
});

test("starts from now, then resumes from the seq of its first ready", () => {
  const { stream } = open();
  const first = FakeSocket.opened[0]!;
  expect(first.url).toContain("cursor=now");
  first.onclose?.({ code: 1006, reason: "" }); // dropped before ready: still from now
  vi.advanceTimersByTime(1000);
  const second = FakeSocket.opened[1]!;
  expect(second.url).toContain("cursor=now");
  second.send({ type: "ready", seq: 41 });
  second.onclose?.({ code: 1001, reason: "going away" });
  vi.advanceTimersByTime(1000);
  expect(FakeSocket.opened[2]!.url).toContain("cursor=41");
  expect(stream.cursor).toBe(41);
});

test("fromNow: false asks for every workflow first", () => {
  new LiveStream({ tenant: "t", origin: "http://gw", socket: (url) => new FakeSocket(url) as unknown as WebSocket, fromNow: false }).start();
  expect(FakeSocket.opened[0]!.url).toContain("cursor=0");
});

test("a token travels as a bearer subprotocol beside the tenant, never in the URL", () => {
  const tenant = "7c0a4b8e-1111-4a4a-9a9a-000000000001";
  const plain = new LiveStream({ tenant, origin: "https://tessera.example", socket: (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket });
  plain.start();
  expect(FakeSocket.opened[0]!.protocols).toBeUndefined();
  const signed = new LiveStream({ tenant, token: "tsr_0123456789ab_secret", origin: "https://tessera.example", socket: (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket });
  signed.start();
  const socket = FakeSocket.opened[1]!;
  expect(socket.protocols).toEqual([`tenant.${tenant}`, "bearer.tsr_0123456789ab_secret"]);
  expect(socket.url).not.toContain("tsr_");
});
