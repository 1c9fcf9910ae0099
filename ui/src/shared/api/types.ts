// Names for the gateway's schemas (generated from its OpenAPI into schema.d.ts).
import type { components } from "./schema";
import states from "./states.json";

type Schemas = components["schemas"];

export type WorkflowView = Schemas["WorkflowView"];
export type WorkflowDetail = Schemas["WorkflowDetail"];
export type WorkflowPage = Schemas["WorkflowPage"];
export type WorkflowSpec = Schemas["WorkflowSpec"];
export type JobSpec = Schemas["JobSpec"];
export type WorkflowAccepted = Schemas["WorkflowAccepted"];
export type JobView = Schemas["JobView"];
export type JobDetail = Schemas["JobDetail"];
export type JobTransition = Schemas["JobTransition"];
export type JobAttempt = Schemas["JobAttempt"];
export type Progress = Schemas["Progress"];
export type Waiting = Schemas["Waiting"];
export type AdmissionView = Schemas["AdmissionView"];
export type CancelResult = Schemas["CancelResult"];
export type ErrorDetail = Schemas["ErrorDetail"];

export type WorkflowState = Schemas["WorkflowState"];
export type JobState = Schemas["JobState"];

// The values of those enums and which of them are final, generated from tessera.workflows by
// scripts/ui_api.py like the OpenAPI itself (a .d.ts has no values at run time).
export const WORKFLOW_STATES = states.workflow_states as readonly WorkflowState[];
export const JOB_STATES = states.job_states as readonly JobState[];

const TERMINAL = new Set<string>([...states.terminal_job_states, ...states.terminal_workflow_states]);
export const isTerminal = (state: JobState | WorkflowState): boolean => TERMINAL.has(state);

/** One workflow changed: its state without jobs, and those of its jobs that changed after
 * `jobs_since` (StreamUpdate in the gateway's models). */
export interface WorkflowUpdate {
  type: "workflow";
  seq: number;
  workflow: WorkflowView;
  jobs: JobView[];
  jobs_since: number;
}

/** A message of `WS /v1/stream` (StreamUpdate | StreamReady in the gateway's models). */
export type StreamMessage = WorkflowUpdate | { type: "ready"; seq: number };

