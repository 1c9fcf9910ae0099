// WS /v1/stream: the tenant's workflows as they change. The first connection asks for changes
// from now on (`cursor=now`: no backlog of every workflow; the app reloads its REST views when
// the stream goes live, so nothing falls in between). Afterwards it keeps the last `seq` it
// received as a cursor and resumes from it after a reconnect: nothing missed, nothing twice.
// A credential (token and jwt modes) travels as a `bearer.<token>` subprotocol beside
// `tenant.<uuid>`, the one the gateway echoes: browsers cannot set headers on a WebSocket, and a
// query parameter would end up in access logs along the way.

import type { StreamMessage, WorkflowUpdate } from "@/shared/api/types";

export type StreamStatus =
  | { kind: "connecting"; attempt: number }
  | { kind: "catching-up" }
  | { kind: "live"; since: number }
  | { kind: "waiting"; retryAt: number; reason: string }
  | { kind: "refused"; reason: string }
  | { kind: "closed" };

export type WorkflowListener = (update: WorkflowUpdate) => void;

type SocketFactory = (url: string, protocols?: string[]) => WebSocket;

// 4000 + HTTP status, as the gateway closes: a wrong tenant will not get better by retrying
const FATAL = new Set([4400, 4401, 4403]);

export interface LiveStreamOptions {
  tenant: string;
  /** the bearer credential, when the gateway checks one */
  token?: string | null;
  /** base URL of the gateway (ws: or wss: is derived from it) */
  origin?: string;
  socket?: SocketFactory;
  now?: () => number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** first connection: from now on (default) or every workflow of the tenant first */
  fromNow?: boolean;
}

export class LiveStream {
  private readonly tenant: string;
  private readonly token: string | null;
  private readonly origin: string;
  private readonly createSocket: SocketFactory;
  private readonly now: () => number;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = false;
  private statusValue: StreamStatus = { kind: "connecting", attempt: 0 };
  private readonly workflowListeners = new Set<WorkflowListener>();
  private readonly statusListeners = new Set<() => void>();
  /** the last `seq` received: every change up to it has been delivered */
  cursor = 0;
  /** whether `cursor` came from the gateway (until then the first connection asks for `now`) */
  private resumable: boolean;

  constructor(opts: LiveStreamOptions) {
    this.tenant = opts.tenant;
    this.token = opts.token ?? null;
    this.origin = opts.origin ?? globalThis.location?.origin ?? "http://127.0.0.1:8000";
    this.createSocket = opts.socket ?? ((url, protocols) => new WebSocket(url, protocols));
    this.now = opts.now ?? Date.now;
    this.minDelay = opts.minDelayMs ?? 500;
    this.maxDelay = opts.maxDelayMs ?? 15_000;
    this.resumable = !(opts.fromNow ?? true);
  }

  get status(): StreamStatus {
    return this.statusValue;
  }

  url(): string {
    const base = new URL(this.origin);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    base.pathname = "/v1/stream";
    const cursor = this.resumable ? String(this.cursor) : "now";
    base.search = new URLSearchParams({ tenant: this.tenant, cursor }).toString();
    return base.toString();
  }

  /** Subprotocols to offer: none without a credential. */
  protocols(): string[] | undefined {
    return this.token ? [`tenant.${this.tenant}`, `bearer.${this.token}`] : undefined;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000, "bye");
    }
    this.setStatus({ kind: "closed" });
  }

  /** Reconnect now (after a wait or a refusal). */
  retryNow(): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.socket) this.connect();
  }

  onWorkflow(listener: WorkflowListener): () => void {
    this.workflowListeners.add(listener);
    return () => {
      this.workflowListeners.delete(listener);
    };
  }

  onStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => {
      this.statusListeners.delete(listener);
    };
  }

  private setStatus(status: StreamStatus): void {
    this.statusValue = status;
    for (const listener of this.statusListeners) listener();
  }

  private connect(): void {
    this.attempt += 1;
    this.setStatus({ kind: "connecting", attempt: this.attempt });
    const socket = this.createSocket(this.url(), this.protocols());
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.setStatus({ kind: "catching-up" });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket === socket) this.receive(String(event.data));
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code, event.reason);
    };
  }

  private receive(text: string): void {
    let message: StreamMessage;
    try {
      message = JSON.parse(text) as StreamMessage;
    } catch {
      return;
    }
    if (message.type === "ready") {
      this.cursor = Math.max(this.cursor, message.seq);
      this.resumable = true;
      this.attempt = 0;
      this.setStatus({ kind: "live", since: this.now() });
      return;
    }
    if (message.type === "workflow") {
      if (message.seq <= this.cursor) return; // already delivered before a reconnect
      this.cursor = message.seq;
      this.resumable = true;
      for (const listener of this.workflowListeners) listener(message);
    }
  }

  private closed(code: number, reason: string): void {
    if (this.stopped) return;
    if (FATAL.has(code)) {
      this.setStatus({ kind: "refused", reason: reason || `closed with ${code}` });
      return;
    }
    // exponential backoff with jitter; a rate-limit refusal waits at least 5 s
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** Math.max(0, this.attempt - 1));
    const delay = Math.round((code === 4429 ? Math.max(base, 5000) : base) * (0.75 + Math.random() * 0.5));
    const why = reason || (code === 1006 ? "connection lost" : `closed with ${code}`);
    this.setStatus({ kind: "waiting", retryAt: this.now() + delay, reason: why });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
