import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { WeftError } from '../errors.js';
import { importUserModule } from '../user-modules.js';
import { TaskTypeRegistry } from './registry.js';
import type { TaskTypeDescriptor } from './task-type.js';

/**
 * In-process plugins (`WEFT_PLUGINS`): modules that register task types. A module exports its
 * types as the default export or as `tasks`, each one a `defineTask({...})` descriptor or an
 * array of them. Their input and output schemas take part in definition validation like the
 * built-ins'; their handlers run in the engine.
 */

function isDescriptor(value: unknown): value is TaskTypeDescriptor {
  const candidate = value as Partial<TaskTypeDescriptor> | null;
  return (
    candidate !== null && typeof candidate === 'object' && typeof candidate.type === 'string' && candidate.type !== ''
  );
}

/** Loads every plugin module and registers its task types; returns the types it added. */
export async function loadPlugins(
  specifiers: readonly string[],
  registry: TaskTypeRegistry,
  cwd = process.cwd(),
): Promise<string[]> {
  const added: string[] = [];
  for (const specifier of specifiers) {
    // Paths are resolved from the working directory; bare names through Node's resolution.
    const target =
      specifier.startsWith('.') || path.isAbsolute(specifier)
        ? pathToFileURL(path.resolve(cwd, specifier)).href
        : specifier;
    let module: Record<string, unknown>;
    try {
      module = await importUserModule(target);
    } catch (error) {
      throw new WeftError('CONFIG_INVALID', `WEFT_PLUGINS: cannot load '${specifier}': ${(error as Error).message}`, {
        cause: error,
      });
    }
    const exported = module.default ?? module.tasks;
    const descriptors = Array.isArray(exported) ? exported : [exported];
    if (descriptors.length === 0 || !descriptors.every(isDescriptor)) {
      throw new WeftError(
        'CONFIG_INVALID',
        `WEFT_PLUGINS: '${specifier}' must export defineTask(...) descriptors as default or as 'tasks'`,
      );
    }
    for (const descriptor of descriptors) {
      if (registry.get(descriptor.type)) {
        throw new WeftError(
          'CONFIG_INVALID',
          `WEFT_PLUGINS: task type '${descriptor.type}' from '${specifier}' is already registered`,
        );
      }
      registry.register({ ...descriptor, source: 'plugin' });
      added.push(descriptor.type);
    }
  }
  return added;
}

/**
 * The task types of a process: the built-ins and those of the `WEFT_PLUGINS` modules. `weft serve`,
 * `weft run` and `weft validate` all build their registry here, so a plugin's types run and
 * validate alike everywhere. Rejects with `CONFIG_INVALID` naming a module that cannot be loaded.
 */
export async function taskTypesWithPlugins(
  specifiers: readonly string[],
): Promise<{ taskTypes: TaskTypeRegistry; plugins: string[] }> {
  const taskTypes = new TaskTypeRegistry();
  const plugins = await loadPlugins(specifiers, taskTypes);
  return { taskTypes, plugins };
}
