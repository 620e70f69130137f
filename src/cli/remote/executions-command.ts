import { type Command, Option } from 'commander';
import { EXECUTION_STATUSES } from '../../engine/states.js';
import type { Execution, ExecutionListQuery, StartExecutionRequest } from '../../sdk/types.js';
import { exitCodeOf } from '../progress-view.js';
import {
  type CommandIo,
  integerFlag,
  labelFlags,
  readJsonFlag,
  repeatable,
  type ServerContext,
  serverAction,
  UsageError,
  usageErrorsExit2,
  withServerOptions,
} from './server-options.js';
import { errorMessage, formatFields, formatTable, shortTime } from './table.js';
import { printNextPage, resolveWorkflowId } from './workflows-command.js';

/**
 * `weft executions list|show|start|cancel|pause|resume|retry|watch` (docs/cli.md): executions on
 * a server. `watch` (and `start --watch`) follow one to its end with `weft run`'s progress and
 * exit like it: 0 completed, 1 failed or cancelled.
 */

async function listExecutions(
  context: ServerContext,
  flags: {
    status?: ExecutionListQuery['status'];
    workflow?: string;
    limit?: string;
    cursor?: string;
    label?: string[];
  },
): Promise<number> {
  const query: ExecutionListQuery = {};
  if (flags.status !== undefined) query.status = flags.status;
  if (flags.limit !== undefined) query.limit = integerFlag('--limit', flags.limit);
  if (flags.cursor !== undefined) query.cursor = flags.cursor;
  const labels = Object.entries(labelFlags('--label', flags.label));
  if (labels.length > 0) query.label = labels.map(([key, value]) => `${key}:${value}`);
  if (flags.workflow !== undefined) query.workflow_id = await resolveWorkflowId(context.client, flags.workflow);
  const page = await context.client.executions.list(query);
  if (context.json) {
    context.printJson(page);
    return 0;
  }
  context.stdout.write(
    formatTable(
      ['ID', 'WORKFLOW', 'STATUS', 'PROGRESS', 'CREATED', 'ENDED'],
      page.items.map((execution) => [
        execution.id,
        workflowLabel(execution),
        execution.status,
        `${Math.round(execution.progress.percent)}%`,
        shortTime(execution.created_at),
        shortTime(execution.completed_at),
      ]),
    ),
  );
  printNextPage(context, page.next_cursor);
  return 0;
}

function workflowLabel(execution: Execution): string {
  if (execution.workflow_id === null) return '(ad hoc)';
  return `${execution.workflow_name ?? execution.workflow_id} v${execution.workflow_version}`;
}

/** One execution: its fields, its steps, then its output. */
function printExecution(context: ServerContext, execution: Execution): void {
  context.stdout.write(
    formatFields([
      ['id', execution.id],
      ['workflow', `${workflowLabel(execution)}${execution.workflow_id ? ` (${execution.workflow_id})` : ''}`],
      [
        'status',
        execution.queue_position === null
          ? execution.status
          : `${execution.status} (queue position ${execution.queue_position})`,
      ],
      ['progress', `${Math.round(execution.progress.percent)}% of ${execution.progress.total} steps`],
      ['reference', execution.reference],
      ['labels', Object.keys(execution.labels).length > 0 ? execution.labels : null],
      ['parent', execution.parent_execution_id],
      ['created', shortTime(execution.created_at)],
      ['started', shortTime(execution.started_at)],
      ['ended', shortTime(execution.completed_at)],
      ['error', errorMessage(execution.error)],
    ]),
  );
  context.print();
  context.stdout.write(
    formatTable(
      ['STEP', 'TYPE', 'STATUS', 'ATTEMPTS', 'STARTED', 'ENDED', 'NOTE'],
      (execution.steps ?? []).map((step) => [
        step.step_id,
        step.type,
        step.status,
        step.attempts,
        shortTime(step.started_at),
        shortTime(step.completed_at),
        step.waiting_for_signal
          ? `waits for signal '${step.waiting_for_signal}'`
          : (errorMessage(step.error) ?? step.skip_reason),
      ]),
    ),
  );
  if (execution.output !== null) {
    context.print();
    context.print('output:');
    context.print(JSON.stringify(execution.output, null, 2));
  }
}

async function showExecution(context: ServerContext, id: string): Promise<number> {
  const execution = await context.client.executions.get(id);
  if (context.json) context.printJson(execution);
  else printExecution(context, execution);
  return 0;
}

/**
 * Follows an execution to its end: progress on stderr; on stdout its output (like `weft run`) or,
 * with `--json`, the ended execution. Exit 0 completed, 1 failed or cancelled.
 */
async function followExecution(context: ServerContext, id: string): Promise<number> {
  // The stream's WebSocket client (undici) is loaded only by the commands that follow one.
  const { watchExecution } = await import('./execution-watch.js');
  const execution = await watchExecution(context.client, context.connection, id, context.stderr);
  if (context.json) context.printJson(execution);
  else if (execution.status === 'completed') context.printJson(execution.output);
  return exitCodeOf(execution.status);
}

async function startExecution(
  context: ServerContext,
  reference: string,
  flags: {
    input?: string;
    version?: string;
    label?: string[];
    reference?: string;
    idempotencyKey?: string;
    start: boolean;
    watch?: boolean;
  },
): Promise<number> {
  if (flags.watch && !flags.start) throw new UsageError('--watch needs a started execution: drop --no-start');
  const request: StartExecutionRequest = {};
  if (flags.input !== undefined) request.input = await readJsonFlag('--input', flags.input, context.stdin);
  if (flags.version !== undefined) request.version = integerFlag('--version', flags.version);
  if (flags.label) request.labels = labelFlags('--label', flags.label);
  if (flags.reference !== undefined) request.reference = flags.reference;
  if (flags.idempotencyKey !== undefined) request.idempotency_key = flags.idempotencyKey;
  if (!flags.start) request.start = false;
  const execution = await context.client.executions.start(await resolveWorkflowId(context.client, reference), request);
  if (flags.watch) {
    context.stderr.write(`started execution ${execution.id}\n`);
    return followExecution(context, execution.id);
  }
  if (context.json) context.printJson(execution);
  else context.print(`started execution ${execution.id} (${execution.status})`);
  return 0;
}

/** The lifecycle actions: each answers the execution in its new state. */
const ACTIONS: Record<'cancel' | 'pause' | 'resume', string> = {
  cancel: 'cancel a pending, queued, running or paused execution',
  pause: 'pause a running execution: running steps finish, no new step starts',
  resume: 'resume a paused execution',
};

async function retryExecution(context: ServerContext, id: string, flags: { fromStep?: string }): Promise<number> {
  const execution = await context.client.executions.retry(
    id,
    flags.fromStep === undefined ? {} : { from_step: flags.fromStep },
  );
  if (context.json) context.printJson(execution);
  else context.print(`execution ${execution.id}: ${execution.status}`);
  return 0;
}

/** Adds `weft executions …`. */
export function addExecutionCommands(program: Command, io: CommandIo): void {
  const executions = usageErrorsExit2(
    program.command('executions').description("a server's executions (--url, WEFT_API_KEY)"),
  );
  withServerOptions(
    executions
      .command('list')
      .description('list executions, newest first')
      .addOption(new Option('--status <status>', 'only executions in this status').choices(EXECUTION_STATUSES))
      .option('--workflow <workflow>', "only this workflow's (id or exact name)")
      .option('--label <key=value>', 'only executions with this label (repeatable: all must match)', repeatable)
      .option('--limit <n>', 'executions per page, 1-200 (default 50)')
      .option('--cursor <cursor>', 'the next page (printed after a full page)'),
  ).action(serverAction(io, listExecutions));
  withServerOptions(
    executions
      .command('show')
      .description("an execution's fields, steps and output")
      .argument('<execution>', 'execution id'),
  ).action(serverAction(io, showExecution));
  withServerOptions(
    executions
      .command('start')
      .description('start an execution of a saved workflow')
      .argument('<workflow>', 'workflow id or exact name')
      .option('--input <json>', "the input as JSON, or @file ('@-' for stdin)")
      .option('--version <n>', 'run this version (default the latest)')
      .option('--label <key=value>', 'a label of the execution (repeatable)', repeatable)
      .option('--reference <text>', 'your own id for it, filterable')
      .option('--idempotency-key <key>', 'a repeat within 24 hours answers the first execution')
      .option('--no-start', 'create it pending; start it later (POST /executions/{id}/start)')
      .option('--watch', 'then follow it like `executions watch` (and exit like it)'),
  ).action(serverAction(io, startExecution));
  for (const [name, description] of Object.entries(ACTIONS) as [keyof typeof ACTIONS, string][]) {
    withServerOptions(executions.command(name).description(description).argument('<execution>', 'execution id')).action(
      serverAction(io, async (context, id: string) => {
        const execution = await context.client.executions[name](id);
        if (context.json) context.printJson(execution);
        else context.print(`execution ${execution.id}: ${execution.status}`);
        return 0;
      }),
    );
  }
  withServerOptions(
    executions
      .command('retry')
      .description('run an ended execution again, from its failed steps')
      .argument('<execution>', 'execution id')
      .option('--from-step <step>', 'run this step and everything downstream again instead'),
  ).action(serverAction(io, retryExecution));
  withServerOptions(
    executions
      .command('watch')
      .description(
        "follow an execution live until it ends, with `weft run`'s progress on stderr and its output on stdout; exit 0 completed, 1 failed or cancelled",
      )
      .argument('<execution>', 'execution id'),
  ).action(serverAction(io, followExecution));
}
