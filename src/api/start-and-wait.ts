import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { isTerminal } from '../engine/states.js';
import type { ExecutionEnds } from '../events/execution-ends.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';

/**
 * Start and wait (docs/api.md): `?wait_seconds=N` on the start routes holds the answer until the
 * execution ends (200 with the final execution) or N seconds pass (202, as without it).
 */

/** The longest a start may wait, in seconds (proxies commonly cut idle requests at 60 s). */
export const MAX_WAIT_SECONDS = 60;

/** The query string of the single start routes. */
export const StartQuery = Type.Object({
  wait_seconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_WAIT_SECONDS,
      description:
        'Hold the answer until the execution ends (200 with the final execution) or this many seconds pass ' +
        '(202 as without it). 0 answers 200 only when the execution had already ended.',
    }),
  ),
});

/**
 * The execution once it ended, or as it is when `seconds` passed or the client left (the reply's
 * connection closed: the wait stops there, with nothing left behind). Waits on `ends` (events,
 * with a periodic re-read for executions run by another process).
 */
export async function waitForEnd(
  ends: ExecutionEnds,
  store: Store,
  reply: FastifyReply,
  execution: ExecutionRow,
  seconds: number,
): Promise<ExecutionRow> {
  if (seconds === 0 || isTerminal(execution.status)) return execution;
  const clientLeft = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) clientLeft.abort();
  };
  reply.raw.once('close', onClose);
  try {
    const latest = await ends.waitFor(execution.id, {
      read: () => store.executions.get(execution.workspace_id, execution.id),
      until: Date.now() + seconds * 1000,
      signal: clientLeft.signal,
    });
    return latest ?? execution;
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** An execution a start inserted (or replayed), with its step rows when they can be shown as they are. */
export interface StartedExecution {
  execution: ExecutionRow;
  steps: ExecutionStepRow[] | undefined;
}

/** How a start answer shows its execution. */
export interface StartViews {
  /** Not ended: as the start routes show it (`steps` as inserted, when still current). */
  unended: (execution: ExecutionRow, steps: ExecutionStepRow[] | undefined) => Promise<unknown>;
  /** Ended: as `GET /executions/{id}` shows it. */
  ended: (execution: ExecutionRow) => Promise<unknown>;
}

/**
 * Answers a start: 202 with the execution as started; with `wait_seconds`, 200 with the final
 * execution once it ended within them, else 202 with it as it is then.
 */
export async function answerStartRequest(
  reply: FastifyReply,
  wait: { ends: ExecutionEnds; store: Store; seconds: number | undefined },
  started: StartedExecution,
  views: StartViews,
): Promise<FastifyReply> {
  if (wait.seconds === undefined) {
    return reply.status(202).send(await views.unended(started.execution, started.steps));
  }
  const latest = await waitForEnd(wait.ends, wait.store, reply, started.execution, wait.seconds);
  if (isTerminal(latest.status)) return reply.status(200).send(await views.ended(latest));
  return reply.status(202).send(await views.unended(latest, latest === started.execution ? started.steps : undefined));
}
