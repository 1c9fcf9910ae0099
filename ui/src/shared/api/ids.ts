// The shapes of the ids in the UI's addresses, as the gateway checks them: a workflow id is a
// UUID, a job id an identifier of at most 64 characters (libs/tessera/workflows.py `Identifier`).
// An address that cannot name anything is answered "no such ..." without asking the gateway.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value.trim());
}

export const isWorkflowId = (value: string): boolean => UUID_RE.test(value);
export const isJobId = (value: string): boolean => JOB_ID_RE.test(value);

export type MissingKind = "workflow" | "job";

/** Why an address names nothing, in words: a malformed id, or an id this tenant does not have
 * (the gateway answers 404 alike for a workflow that is not there and for another tenant's). */
export function describeMissing(kind: MissingKind, id: string, tenant: string, malformed: boolean): { title: string; message: string } {
  const title = `No such ${kind}`;
  const shown = id.length > 80 ? `${id.slice(0, 80)}…` : id;
  if (malformed) {
    const shape = kind === "workflow" ? "a workflow id is a UUID" : "a job id is letters, digits, '_', '.' and '-', at most 64";
    return { title, message: `'${shown}' cannot be a ${kind} id (${shape}).` };
  }
  if (kind === "job") return { title, message: `This workflow has no job '${shown}'.` };
  return { title, message: `Workflow ${shown} was not found for tenant ${tenant}; it may belong to another tenant.` };
}
