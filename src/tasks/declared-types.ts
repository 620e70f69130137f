import type { TaskTypeRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from './registry.js';
import type { JsonSchema, TaskTypeDescriptor, TaskTypeLookup } from './task-type.js';

/**
 * Task types a workspace declared for external workers (`PUT /task-types/{type}`). They have no
 * handler here: their steps wait for a worker that polls for them. Their schemas take part in
 * definition validation like a plugin's.
 */

/** The descriptor of a declared type. */
export function declaredDescriptor(row: TaskTypeRow): TaskTypeDescriptor {
  return {
    type: row.type,
    description: row.description,
    source: 'declared',
    ...(row.input_schema === null ? {} : { inputSchema: JSON.parse(row.input_schema) as JsonSchema }),
    ...(row.output_schema === null ? {} : { outputSchema: JSON.parse(row.output_schema) as JsonSchema }),
  };
}

/** The task types a workspace's definitions may name: the process's plus the declared ones. */
export async function workspaceTaskTypes(
  store: Store,
  registry: TaskTypeRegistry,
  workspaceId: string,
): Promise<TaskTypeLookup> {
  const declared = await store.taskTypes.list(workspaceId);
  return registry.lookup(declared.map(declaredDescriptor));
}
