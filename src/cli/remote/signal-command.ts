import type { Command } from 'commander';
import {
  type CommandIo,
  readJsonFlag,
  type ServerContext,
  serverAction,
  usageErrorsExit2,
  withServerOptions,
} from './server-options.js';

/**
 * `weft signal <execution> <name> [--payload <json>]` (docs/cli.md): sends a signal to an
 * execution's `wait_for_signal` steps through `POST /executions/{id}/signals/{name}`. The payload
 * becomes the `data` the consuming step completes with (null without one).
 */

async function sendSignal(
  context: ServerContext,
  executionId: string,
  name: string,
  flags: { payload?: string; idempotencyKey?: string },
): Promise<number> {
  const data = flags.payload === undefined ? null : await readJsonFlag('--payload', flags.payload, context.stdin);
  const sent = await context.client.executions.sendSignal(
    executionId,
    name,
    data,
    flags.idempotencyKey === undefined ? {} : { idempotencyKey: flags.idempotencyKey },
  );
  if (context.json) {
    context.printJson(sent);
    return 0;
  }
  const index = sent.consumed_by_index === null ? '' : ` item ${sent.consumed_by_index}`;
  context.print(
    sent.consumed_by_step
      ? `signal ${sent.name} (${sent.id}) consumed by step ${sent.consumed_by_step}${index}`
      : `signal ${sent.name} (${sent.id}) kept until a step waits for it`,
  );
  return 0;
}

/** Adds `weft signal`. */
export function addSignalCommand(program: Command, io: CommandIo): void {
  withServerOptions(
    usageErrorsExit2(program.command('signal'))
      .description("send a signal to an execution's wait_for_signal steps (--url, WEFT_API_KEY)")
      .argument('<execution>', 'execution id')
      .argument('<name>', 'signal name')
      .option('--payload <json>', "the signal's data as JSON, or @file ('@-' for stdin); default null")
      .option('--idempotency-key <key>', 'a repeat on the same execution answers the first signal and sends nothing'),
  ).action(serverAction(io, sendSignal));
}
