import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from "react";

import { useTenant, useToken } from "@/shared/tenant/useTenant";

import { LiveStream, type StreamStatus, type WorkflowListener } from "./liveStream";

const StreamContext = createContext<LiveStream | null>(null);

/** One live stream per tenant for the whole app; switching tenants (or tokens) opens a new one. */
export function StreamProvider({ children }: { children: ReactNode }) {
  const tenant = useTenant();
  const token = useToken();
  const client = useQueryClient();
  const [stream, setStream] = useState<LiveStream | null>(null);

  useEffect(() => {
    const live = new LiveStream({ tenant, token });
    setStream(live);
    // The stream starts from "now": views loaded before it went live may miss a change made in
    // between, so reload them each time it goes live (the first time and after a reconnect).
    let wasLive = false;
    const reloadOnLive = live.onStatus(() => {
      const isLive = live.status.kind === "live";
      if (isLive && !wasLive) void client.invalidateQueries();
      wasLive = isLive;
    });
    live.start();
    const wake = () => {
      if (document.visibilityState === "visible") live.retryNow();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", wake);
    return () => {
      window.removeEventListener("online", wake);
      document.removeEventListener("visibilitychange", wake);
      reloadOnLive();
      live.stop();
    };
  }, [tenant, token, client]);

  return <StreamContext.Provider value={stream}>{children}</StreamContext.Provider>;
}

export function useLiveStream(): LiveStream | null {
  return useContext(StreamContext);
}

const CLOSED: StreamStatus = { kind: "closed" };

export function useStreamStatus(): StreamStatus {
  const stream = useLiveStream();
  return useSyncExternalStore(
    (listener) => (stream ? stream.onStatus(listener) : () => undefined),
    () => stream?.status ?? CLOSED,
  );
}

/** Call `listener` for every workflow update of the current tenant's stream. */
export function useWorkflowUpdates(listener: WorkflowListener): void {
  const stream = useLiveStream();
  useEffect(() => (stream ? stream.onWorkflow(listener) : undefined), [stream, listener]);
}
