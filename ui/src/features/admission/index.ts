export { AdmissionBadge } from "./components/AdmissionBadge";
export { useAdmissionFollowsStream } from "./hooks/useAdmissionFollowsStream";
