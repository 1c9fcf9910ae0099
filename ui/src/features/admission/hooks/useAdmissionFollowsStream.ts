import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef } from "react";

import type { WorkflowUpdate } from "@/shared/api/types";
import { useWorkflowUpdates } from "@/shared/stream/StreamProvider";
import { useTenant } from "@/shared/tenant/useTenant";

/** Ask for the admission state again when one of this tenant's workflows changes state. */
export function useAdmissionFollowsStream(): void {
  const client = useQueryClient();
  const tenant = useTenant();
  const states = useRef(new Map<string, string>());
  const onWorkflow = useCallback(
    ({ workflow }: WorkflowUpdate) => {
      if (states.current.get(workflow.id) === workflow.state) return;
      states.current.set(workflow.id, workflow.state);
      void client.invalidateQueries({ queryKey: ["admission", tenant] });
    },
    [client, tenant],
  );
  useWorkflowUpdates(onWorkflow);
}
