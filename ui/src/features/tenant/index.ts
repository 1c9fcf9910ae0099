export { useAuthMode } from "./api/auth";
export { AuthGate } from "./components/AuthGate";
export { TenantAvatar, TenantSwitcher } from "./components/TenantSwitcher";
export { TenantNote } from "./components/TenantNote";
