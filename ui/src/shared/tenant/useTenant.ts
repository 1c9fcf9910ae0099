import { useSyncExternalStore } from "react";

import { getKnownTenants, getTenant, getToken, subscribeTenant } from "./store";

/** The tenant the UI acts as; re-renders when it changes. */
export function useTenant(): string {
  return useSyncExternalStore(subscribeTenant, getTenant);
}

export function useKnownTenants() {
  return useSyncExternalStore(subscribeTenant, getKnownTenants);
}

/** The credential kept for the gateway (token and jwt modes); re-renders when it changes. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribeTenant, getToken);
}
