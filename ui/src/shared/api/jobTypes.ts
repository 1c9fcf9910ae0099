// The job types the gateway accepts and their parameter schemas, generated from
// tessera.workflows by scripts/ui_api.py (the API types `params` as a free-form object).
import generated from "./job-types.json";

export interface ParamSchema {
  type?: "integer" | "number" | "string" | "boolean";
  anyOf?: { type?: string; minimum?: number; maximum?: number; exclusiveMinimum?: number }[];
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
}

export interface JobTypeInfo {
  needs_slide: boolean;
  description: string | null;
  params: { properties: Record<string, ParamSchema> };
}

export const JOB_TYPES = generated.types as unknown as Record<string, JobTypeInfo>;
export const JOB_TYPE_NAMES = Object.keys(JOB_TYPES);
export const MAX_RETRIES: number = generated.max_retries;
