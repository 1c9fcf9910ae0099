import type { ReactNode } from "react";

import { useToken } from "@/shared/tenant/useTenant";
import { Loading } from "@/shared/ui";

import { useAuthMode } from "../api/auth";
import { SignIn } from "./SignIn";

/** The app once the gateway knows who the user is: at once in header mode (the tenant picker
 * decides), after a token is given in token and jwt modes (asked again when it is refused). */
export function AuthGate({ children }: { children: ReactNode }) {
  const auth = useAuthMode();
  const token = useToken();
  if (auth.isPending) return <Loading label="Connecting to the gateway…" />;
  // an unreachable gateway shows itself in the app's own error notices
  if (!auth.data || auth.data.mode === "header" || token) return <>{children}</>;
  return <SignIn auth={auth.data} />;
}
