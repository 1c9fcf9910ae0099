import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";

import { AuthGate } from "@/features/tenant";
import { ApiError } from "@/shared/api/errors";
import { StreamProvider } from "@/shared/stream/StreamProvider";
import { ToastProvider } from "@/shared/ui";

import { router } from "./router";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // client errors will not heal by asking again; rate limits and outages may
      retry: (count, error) => (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429 ? false : count < 3),
      retryDelay: (count, error) => (error instanceof ApiError && error.retryAfter ? error.retryAfter * 1000 : Math.min(8000, 500 * 2 ** count)),
    },
  },
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <AuthGate>
        <StreamProvider>
          <ToastProvider>
            <RouterProvider router={router} />
          </ToastProvider>
        </StreamProvider>
      </AuthGate>
    </QueryClientProvider>
  );
}
