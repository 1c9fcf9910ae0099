// Names for the gateway's schemas (generated from its OpenAPI into schema.d.ts).
import type { components } from "./schema";

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
export const WORKFLOW_STATES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const satisfies readonly WorkflowState[];

export const JOB_STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"] as const;
export type JobState = (typeof JOB_STATES)[number];

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"]);
export const isTerminal = (state: string): boolean => TERMINAL.has(state);

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

