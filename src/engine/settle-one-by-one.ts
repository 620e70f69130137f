import type { Logger } from 'pino';
import type { SettleRequest, SettleResult } from './settle.js';

/** What settling outcomes one at a time needs from the engine. */
export interface OneByOneSettle {
  settle(batch: SettleRequest[]): Promise<SettleResult>;
  apply(result: SettleResult): void;
  isUnavailable(error: unknown): boolean;
  /** Keeps an outcome to write again later (the database is unavailable). */
  requeue(request: SettleRequest): void;
  logger: Pick<Logger, 'error'>;
}

/**
 * Settles outcomes one at a time after their batch failed: one outcome that cannot be written
 * must not hold back the others. An outcome that cannot be written fails its step (without
 * retry, saying why); if even that fails, its lease expires and recovery queues the step again.
 */
export async function settleOneByOne(batch: SettleRequest[], engine: OneByOneSettle): Promise<void> {
  for (const request of batch) {
    try {
      engine.apply(await engine.settle([request]));
    } catch (error) {
      if (engine.isUnavailable(error)) {
        engine.requeue(request);
        continue;
      }
      const context = { err: error, execution: request.step.execution_id, step: request.step.step_id };
      engine.logger.error(context, 'an outcome could not be recorded; failing the step');
      const message = `the outcome could not be recorded: ${(error as Error).message}`;
      try {
        engine.apply(
          await engine.settle([
            { ...request, outcome: { kind: 'failed', input: null, error: { message, retryable: false } } },
          ]),
        );
      } catch (again) {
        // Left to lease expiry: recovery gives the step back to the queue.
        engine.logger.error({ ...context, err: again }, 'failing the step failed too; its lease will expire');
      }
    }
  }
}
