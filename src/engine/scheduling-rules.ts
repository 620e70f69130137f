import type { StepDefinition } from '../definition/definition-schema.js';

/**
 * The pure rules of scheduling (SPEC §3): when a step's dependencies allow it to run, and how long
 * to wait before a retry. Kept free of I/O so they are tested directly.
 */

/** Dependency counters of a step. */
export interface DependencyCounters {
  deps_total: number;
  deps_settled: number;
  deps_completed: number;
}

/** What to do with a pending step now. */
export type Readiness = 'wait' | 'ready' | 'skip';

/** Decides a pending step's fate from its `run_if` and its dependencies' outcomes so far. */
export function decideReadiness(runIf: StepDefinition['run_if'], counters: DependencyCounters): Readiness {
  const { deps_total: total, deps_settled: settled, deps_completed: completed } = counters;
  if (total === 0) return 'ready';
  switch (runIf ?? 'all_success') {
    case 'all_done':
      return settled >= total ? 'ready' : 'wait';
    case 'any_success':
      if (completed > 0) return 'ready';
      return settled >= total ? 'skip' : 'wait';
    default:
      // all_success: one dependency that did not complete is enough to skip.
      if (settled > completed) return 'skip';
      return completed >= total ? 'ready' : 'wait';
  }
}

/** Retry policy with defaults applied. */
export interface EffectiveRetry {
  maxAttempts: number;
  backoff: 'fixed' | 'exponential';
  delayMs: number;
  maxDelayMs: number;
  jitter: boolean;
}

/** A step's retry policy; a step without one gets one attempt. */
export function effectiveRetry(step: StepDefinition): EffectiveRetry {
  const retry = step.retry;
  return {
    maxAttempts: retry?.max_attempts ?? 1,
    backoff: retry?.backoff ?? 'fixed',
    delayMs: retry?.delay_ms ?? 1000,
    maxDelayMs: retry?.max_delay_ms ?? 3_600_000,
    jitter: retry?.jitter ?? true,
  };
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failed: `delay_ms`, doubled per attempt when
 * exponential, capped by `max_delay_ms`, then spread by up to ±25% when jitter is on.
 */
export function retryDelayMs(policy: EffectiveRetry, attempt: number, random: () => number = Math.random): number {
  const base = policy.backoff === 'exponential' ? policy.delayMs * 2 ** Math.max(0, attempt - 1) : policy.delayMs;
  const capped = Math.min(base, policy.maxDelayMs);
  if (!policy.jitter) return capped;
  return Math.max(0, Math.round(capped * (0.75 + random() * 0.5)));
}
