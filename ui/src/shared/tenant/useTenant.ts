import { useSyncExternalStore } from "react";

import { getKnownTenants, getTenant, subscribeTenant } from "./store";

/** The tenant the UI acts as; re-renders when it changes. */
export function useTenant(): string {
  return useSyncExternalStore(subscribeTenant, getTenant);
}

export function useKnownTenants() {
  return useSyncExternalStore(subscribeTenant, getKnownTenants);
}
