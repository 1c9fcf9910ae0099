export { TenantAvatar, TenantSwitcher } from "./components/TenantSwitcher";
