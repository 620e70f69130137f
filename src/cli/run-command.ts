import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { FilesystemArtifactStorage } from '../artifacts/artifact-storage.js';
import { Artifacts } from '../artifacts/artifacts.js';
import { validateDefinition } from '../definition/validate-definition.js';
import { Engine } from '../engine/engine.js';
import { adhocStartRequest, startExecution } from '../engine/lifecycle.js';
import { isTerminal } from '../engine/states.js';
import { WeftError } from '../errors.js';
import { postSignal } from '../signals/signal-delivery.js';
import type { ExecutionStepRow } from '../store/database-schema.js';
import { openStore } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import { exitCodeOf, type ProgressOutput, ProgressView } from './progress-view.js';

/**
 * `weft run <file.json> --input '<json>'`: runs one workflow on an embedded store (an in-memory
 * SQLite database unless `--database` names one), shows live progress on stderr (a bar and each
 * step's status on a terminal, one plain line per change otherwise), prints the output as JSON on
 * stdout, and returns the exit code: 0 completed, 1 failed or cancelled, 2 unusable input, 3 waiting
 * for a signal that was not given (`--signal name=<json>` gives them up front).
 */

/** Options of `weft run`. */
export interface RunOptions {
  input: string | undefined;
  database: string | undefined;
  /** `--signal name=<json>`: signals sent to the execution as soon as it starts, in order. */
  signals?: string[];
  llmBaseUrl: string | undefined;
  llmApiKey: string | undefined;
  /** `WEFT_LLM_MODEL`. */
  llmModel?: string | undefined;
  /** The task types: the built-ins and `WEFT_PLUGINS`' (`taskTypesWithPlugins`). */
  taskTypes: TaskTypeRegistry;
  /** Where progress goes; a TTY gets the redrawn view. */
  progress: ProgressOutput;
  output: { write(text: string): boolean };
}

/** Runs a definition file; returns the exit code. */
export async function runWorkflowFile(file: string, options: RunOptions): Promise<number> {
  let definitionJson: unknown;
  let input: unknown = {};
  let signals: GivenSignal[];
  try {
    definitionJson = JSON.parse(await readFile(file, 'utf8'));
    if (options.input !== undefined) input = JSON.parse(options.input);
    signals = (options.signals ?? []).map(parseSignalFlag);
  } catch (error) {
    options.progress.write(`weft run: ${(error as Error).message}\n`);
    return 2;
  }
  const { taskTypes } = options;
  const validation = validateDefinition(definitionJson, taskTypes.lookup());
  if (!validation.definition) {
    for (const error of validation.errors)
      options.progress.write(`${file}: error at ${error.path || '/'}: ${error.message}\n`);
    return 2;
  }
  const store = openStore(
    {
      databaseUrl: options.database ?? ':memory:',
      sqliteSynchronous: 'NORMAL',
      pgSynchronousCommit: 'on',
      pgPoolSize: 4,
    },
    (error) => options.progress.write(`database: ${error.message}\n`),
  );
  // A run's artifacts (`save_as`, plugins) live as long as the run, like its in-memory database.
  const artifactsDir = await mkdtemp(path.join(os.tmpdir(), 'weft-run-artifacts-'));
  const engine = new Engine({
    store,
    taskTypes,
    logger: pino({ level: 'silent' }),
    config: { llmBaseUrl: options.llmBaseUrl, llmApiKey: options.llmApiKey, llmModel: options.llmModel },
    pollMs: 200,
    artifacts: new Artifacts(store, new FilesystemArtifactStorage(artifactsDir), 1024 ** 3),
  });
  try {
    await store.migrate();
    const workspace =
      (await store.workspaces.getBySlug('cli')) ?? (await store.workspaces.create({ slug: 'cli', name: 'weft run' }));
    await engine.start();
    let execution = await startExecution(
      store,
      adhocStartRequest(workspace.id, validation.definition, input, 'cli'),
    ).catch((error: unknown) => {
      if (error instanceof WeftError) {
        for (const item of error.errors ?? []) options.progress.write(`input error at ${item.path}: ${item.message}\n`);
        options.progress.write(`weft run: ${error.message}\n`);
        return undefined;
      }
      throw error;
    });
    if (!execution) return 2;
    for (const signal of signals) {
      await postSignal(engine, { workspaceId: workspace.id, executionId: execution.id, ...signal });
    }
    engine.wake();
    const view = new ProgressView(options.progress);
    for (;;) {
      const steps = await store.steps.list(execution.id);
      const current = await store.executions.getById(execution.id);
      if (!current) throw new Error('the execution disappeared');
      execution = current;
      view.render(execution.status, steps);
      if (isTerminal(execution.status)) break;
      const awaited = awaitedSignals(steps);
      if (awaited.length > 0) {
        options.progress.write(
          `weft run: execution ${execution.id} waits for signal ${awaited.map((name) => `'${name}'`).join(', ')}; ` +
            'give it with --signal name=<json>\n',
        );
        return 3;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    view.finish(
      execution.status,
      execution.error ? (JSON.parse(execution.error) as { message?: string }).message : undefined,
    );
    if (execution.status === 'completed')
      options.output.write(`${JSON.stringify(JSON.parse(execution.output ?? 'null'), null, 2)}\n`);
    return exitCodeOf(execution.status);
  } finally {
    await engine.stop(1000);
    await store.close();
    await rm(artifactsDir, { recursive: true, force: true });
  }
}

/** A `--signal` flag, parsed. */
interface GivenSignal {
  name: string;
  data: unknown;
}

/** Parses `name=<json>` (the JSON may be left out: `name` sends `null`). */
function parseSignalFlag(flag: string): GivenSignal {
  const separator = flag.indexOf('=');
  const name = separator === -1 ? flag : flag.slice(0, separator);
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) {
    throw new Error(`--signal '${flag}': the name must match ^[A-Za-z][A-Za-z0-9_-]{0,63}$`);
  }
  if (separator === -1) return { name, data: null };
  try {
    return { name, data: JSON.parse(flag.slice(separator + 1)) };
  } catch (error) {
    throw new Error(`--signal '${name}': the data is not JSON (${(error as Error).message})`);
  }
}

/**
 * The signals the run waits for and nothing else can bring: nothing is queued or running, and at
 * least one step waits for a signal. Such a run would never end in this process (timeouts aside,
 * which would only fail it): the run says so and exits 3.
 */
function awaitedSignals(steps: ExecutionStepRow[]): string[] {
  if (steps.some((step) => step.status === 'queued' || step.status === 'running')) return [];
  const waiting = steps.filter((step) => step.status === 'waiting');
  // `waiting_signal` is left over on a step whose fallback now waits on another kind of timer.
  if (waiting.length === 0 || waiting.some((step) => step.attempt_type !== 'wait_for_signal' || !step.waiting_signal))
    return [];
  return [...new Set(waiting.map((step) => step.waiting_signal as string))];
}
