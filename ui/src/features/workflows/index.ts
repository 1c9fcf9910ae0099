export { WorkflowsPage } from "./components/WorkflowsPage";
export { useLiveWorkflows } from "./hooks/useLiveWorkflows";
