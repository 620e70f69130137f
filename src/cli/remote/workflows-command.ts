import type { Command } from 'commander';
import type { WeftClient } from '../../sdk/client.js';
import type { Workflow, WorkflowDefinition, WorkflowListQuery } from '../../sdk/types.js';
import {
  type CommandIo,
  integerFlag,
  labelFlags,
  readJsonFile,
  repeatable,
  type ServerContext,
  serverAction,
  UsageError,
  usageErrorsExit2,
  withServerOptions,
} from './server-options.js';
import { formatFields, formatTable, shortTime } from './table.js';

/**
 * `weft workflows list|show|create|update` (docs/cli.md): saved workflows on a server. A
 * `<workflow>` argument is an id (`wf_…`) or a workflow's exact name.
 */

/**
 * The id of `reference`: itself when it is an id, else the workflow of that exact name (a usage
 * error when no workflow or several have it).
 */
export async function resolveWorkflowId(client: WeftClient, reference: string): Promise<string> {
  if (/^wf_/.test(reference)) return reference;
  const page = await client.workflows.list({ q: reference, limit: 200 });
  const named = page.items.filter((workflow) => workflow.name === reference);
  if (named.length === 1 && named[0]) return named[0].id;
  if (named.length === 0) throw new UsageError(`no workflow is named '${reference}' (give its id, wf_…)`);
  throw new UsageError(
    `${named.length} workflows are named '${reference}': give one's id (${named.map((workflow) => workflow.id).join(', ')})`,
  );
}

async function listWorkflows(
  context: ServerContext,
  flags: { limit?: string; cursor?: string; search?: string; label?: string[]; enabled?: true; disabled?: true },
): Promise<number> {
  const query: WorkflowListQuery = {};
  if (flags.limit !== undefined) query.limit = integerFlag('--limit', flags.limit);
  if (flags.cursor !== undefined) query.cursor = flags.cursor;
  if (flags.search !== undefined) query.q = flags.search;
  if (flags.enabled && flags.disabled) throw new UsageError('give --enabled or --disabled, not both');
  if (flags.enabled || flags.disabled) query.enabled = flags.enabled === true;
  const labels = Object.entries(labelFlags('--label', flags.label));
  if (labels.length > 0) query.label = labels.map(([key, value]) => `${key}:${value}`);
  const page = await context.client.workflows.list(query);
  if (context.json) {
    context.printJson(page);
    return 0;
  }
  context.stdout.write(
    formatTable(
      ['ID', 'NAME', 'VERSION', 'ENABLED', 'LAST EXECUTION', 'UPDATED'],
      page.items.map((workflow) => [
        workflow.id,
        workflow.name,
        workflow.latest_version,
        workflow.enabled ? 'yes' : 'no',
        workflow.last_execution ? `${workflow.last_execution.status} ${workflow.last_execution.id}` : '-',
        shortTime(workflow.updated_at),
      ]),
    ),
  );
  printNextPage(context, page.next_cursor);
  return 0;
}

/** Tells how to get the next page (on stderr, so stdout stays the table). */
export function printNextPage(context: ServerContext, cursor: string | null): void {
  if (cursor) context.stderr.write(`more: add --cursor ${cursor}\n`);
}

/** One workflow: its fields, then its steps. */
function printWorkflow(context: ServerContext, workflow: Workflow): void {
  const definition = workflow.definition as Partial<WorkflowDefinition>;
  context.stdout.write(
    formatFields([
      ['id', workflow.id],
      ['name', workflow.name],
      ['description', workflow.description],
      ['version', `${workflow.version} (latest ${workflow.latest_version})`],
      ['enabled', workflow.enabled ? 'yes' : 'no'],
      ['labels', Object.keys(workflow.labels).length > 0 ? workflow.labels : null],
      ['next fire', workflow.next_fire_at ?? null],
      ['created', shortTime(workflow.created_at)],
      ['updated', shortTime(workflow.updated_at)],
    ]),
  );
  const steps = definition.steps ?? [];
  context.print();
  context.stdout.write(
    formatTable(
      ['STEP', 'TYPE', 'DEPENDS ON'],
      steps.map((step) => [step.id, step.type, (step.depends_on ?? []).join(', ')]),
    ),
  );
}

async function showWorkflow(context: ServerContext, reference: string, flags: { version?: string }): Promise<number> {
  const id = await resolveWorkflowId(context.client, reference);
  const workflow = await context.client.workflows.get(
    id,
    flags.version === undefined ? {} : { version: integerFlag('--version', flags.version) },
  );
  if (context.json) context.printJson(workflow);
  else printWorkflow(context, workflow);
  return 0;
}

async function createWorkflow(context: ServerContext, file: string): Promise<number> {
  const definition = (await readJsonFile(file, context.stdin)) as WorkflowDefinition;
  const workflow = await context.client.workflows.create(definition);
  if (context.json) context.printJson(workflow);
  else context.print(`created workflow ${workflow.id} '${workflow.name}' (version ${workflow.version})`);
  return 0;
}

async function updateWorkflow(context: ServerContext, reference: string, file: string): Promise<number> {
  const definition = (await readJsonFile(file, context.stdin)) as WorkflowDefinition;
  const id = await resolveWorkflowId(context.client, reference);
  const workflow = await context.client.workflows.update(id, definition);
  if (context.json) context.printJson(workflow);
  // A definition identical to the latest creates no version: the answer is that version.
  else context.print(`workflow ${workflow.id} '${workflow.name}' is at version ${workflow.version}`);
  return 0;
}

/** Adds `weft workflows …`. */
export function addWorkflowCommands(program: Command, io: CommandIo): void {
  const workflows = usageErrorsExit2(
    program.command('workflows').description("a server's saved workflows (--url, WEFT_API_KEY)"),
  );
  withServerOptions(
    workflows
      .command('list')
      .description('list workflows, newest first')
      .option('--search <text>', 'only names containing this (any case)')
      .option('--label <key=value>', 'only workflows with this label (repeatable: all must match)', repeatable)
      .option('--enabled', 'only enabled workflows')
      .option('--disabled', 'only disabled workflows')
      .option('--limit <n>', 'workflows per page, 1-200 (default 50)')
      .option('--cursor <cursor>', 'the next page (printed after a full page)'),
  ).action(serverAction(io, listWorkflows));
  withServerOptions(
    workflows
      .command('show')
      .description("a workflow's fields and steps")
      .argument('<workflow>', 'workflow id or exact name')
      .option('--version <n>', 'an older version (default the latest)'),
  ).action(serverAction(io, showWorkflow));
  withServerOptions(
    workflows
      .command('create')
      .description('create a workflow (version 1) from a definition file')
      .argument('<file>', "definition JSON file, or '-' for stdin"),
  ).action(serverAction(io, createWorkflow));
  withServerOptions(
    workflows
      .command('update')
      .description("save a definition file as a workflow's next version (nothing new when it is identical)")
      .argument('<workflow>', 'workflow id or exact name')
      .argument('<file>', "definition JSON file, or '-' for stdin"),
  ).action(serverAction(io, updateWorkflow));
}
