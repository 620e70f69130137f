import { delayTask } from './builtin/delay.js';
import { htmlExtractTextTask } from './builtin/html-extract-text.js';
import { httpTask } from './builtin/http.js';
import { llmChatTask } from './builtin/llm-chat.js';
import { noopTask } from './builtin/noop.js';
import { transformTask } from './builtin/transform.js';
import { waitForSignalTask } from './builtin/wait-for-signal.js';
import { workflowTask } from './builtin/workflow.js';
import type { TaskTypeDescriptor, TaskTypeLookup } from './task-type.js';

/** The built-in task types of SPEC §4. */
export const BUILTIN_TASK_TYPES: readonly TaskTypeDescriptor[] = Object.freeze([
  noopTask,
  transformTask,
  httpTask,
  delayTask,
  waitForSignalTask,
  workflowTask,
  htmlExtractTextTask,
  llmChatTask,
]);

/** The task types a process knows: built-ins plus the plugins it loaded. */
export class TaskTypeRegistry {
  readonly #types = new Map<string, TaskTypeDescriptor>();

  constructor(initial: readonly TaskTypeDescriptor[] = BUILTIN_TASK_TYPES) {
    for (const descriptor of initial) this.register(descriptor);
  }

  /** Adds a type; a second registration of the same name is a programming error. */
  register(descriptor: TaskTypeDescriptor): void {
    if (this.#types.has(descriptor.type)) throw new Error(`task type '${descriptor.type}' is registered twice`);
    this.#types.set(descriptor.type, descriptor);
  }

  /** The descriptor of a type, if known. */
  get(type: string): TaskTypeDescriptor | undefined {
    return this.#types.get(type);
  }

  /** Every known type, sorted by name. */
  list(): TaskTypeDescriptor[] {
    return [...this.#types.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** A lookup over these types, optionally extended with a workspace's declared types. */
  lookup(declared: readonly TaskTypeDescriptor[] = []): TaskTypeLookup {
    const own = this.#types;
    const extra = new Map(declared.map((descriptor) => [descriptor.type, descriptor]));
    return {
      get: (type) => own.get(type) ?? extra.get(type),
      names: () => [...new Set([...own.keys(), ...extra.keys()])].sort(),
    };
  }
}
