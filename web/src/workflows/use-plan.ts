import { useQuery } from '@tanstack/react-query';
import type { WorkflowDefinition } from '../../../src/sdk/types';
import { useClient } from '../api/weft-client';

/**
 * The plan of a definition (every step with its explicit and implicit dependencies), computed by
 * the server's own validation so that the graph shows exactly the dependencies the engine uses.
 */
export function usePlan(key: readonly unknown[], definition: WorkflowDefinition | undefined) {
  const client = useClient();
  return useQuery({
    queryKey: ['plan', ...key],
    enabled: definition !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async ({ signal }) => {
      const report = await client.workflows.validate(definition as WorkflowDefinition, { signal });
      if (!report.plan)
        throw new Error(
          `the definition does not validate: ${report.errors.map((error) => `${error.path}: ${error.message}`).join('; ')}`,
        );
      return report.plan;
    },
  });
}
