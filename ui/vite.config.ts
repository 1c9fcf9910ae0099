/// <reference types="vitest/config" />
import { fileURLToPath, URL } from "node:url";

import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the UI on :5173 and forwards the API (and the live stream) to a gateway
// started with `tessera up` (TESSERA_GATEWAY_URL to point elsewhere).
const gateway = process.env.TESSERA_GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: {
    proxy: {
      "/v1": { target: gateway, ws: true, changeOrigin: true },
      "/docs": gateway,
      "/openapi.json": gateway,
      "/healthz": gateway,
      "/readyz": gateway,
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
  },
});
