import type { Store } from '../store/store.js';
import type { WorkerSighting } from './worker-repository.js';

/**
 * Workers seen recently: every `POST /tasks/poll` is a sighting of its `worker_id` (a poll that
 * returns no task too). Writing one row per poll would put a write on the poll's hot path, so a
 * process records a worker at most once per `SIGHTING_INTERVAL_MS`, remembering when in a small
 * map; a worker's `last_poll_at` is therefore up to that much older than its latest poll.
 */

/** At most one write per worker and process within this many milliseconds. */
export const SIGHTING_INTERVAL_MS = 5_000;
/** A worker is `active` when it polled within this many seconds (a long poll lasts up to 30). */
export const WORKER_ACTIVE_SECONDS = 60;
/** Workers silent for this many days are pruned, and never listed. */
export const WORKER_RETENTION_DAYS = 7;

/** How often one process prunes the workers of every workspace that went silent. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Past this many remembered workers, those whose interval is over are forgotten. */
const MAX_REMEMBERED = 10_000;

/** When workers that went silent are pruned: `WORKER_RETENTION_DAYS` before `now` (epoch ms). */
export function retentionCutoff(now: number): string {
  return new Date(now - WORKER_RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();
}

/** The throttled recorder of one process. */
export class WorkerSightings {
  /** When this process last wrote each worker (`workspace \0 worker` → epoch ms). */
  readonly #written = new Map<string, number>();
  #prunedAt = 0;

  constructor(
    private readonly store: Store,
    /** Failures are reported, never thrown: a poll does not fail because its sighting was not written. */
    private readonly onError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a poll unless this process wrote the same worker less than `SIGHTING_INTERVAL_MS` ago. */
  async seen(sighting: Omit<WorkerSighting, 'at'>): Promise<void> {
    const key = `${sighting.workspaceId}\u0000${sighting.workerId}`;
    const now = this.now();
    const last = this.#written.get(key);
    if (last !== undefined && now - last < SIGHTING_INTERVAL_MS) return;
    // Taken before the write: concurrent polls of one worker write once.
    this.#written.set(key, now);
    this.#forgetOld(now);
    try {
      await this.store.workers.record([{ ...sighting, at: new Date(now).toISOString() }]);
      if (now - this.#prunedAt >= PRUNE_INTERVAL_MS) {
        this.#prunedAt = now;
        await this.store.workers.prune(retentionCutoff(now));
      }
    } catch (error) {
      // The next poll tries again rather than waiting out the interval.
      if (this.#written.get(key) === now) this.#written.delete(key);
      this.onError(error);
    }
  }

  /** Keeps the map small: entries whose interval is over throttle nothing. */
  #forgetOld(now: number): void {
    if (this.#written.size <= MAX_REMEMBERED) return;
    for (const [key, at] of this.#written) if (now - at >= SIGHTING_INTERVAL_MS) this.#written.delete(key);
  }
}
