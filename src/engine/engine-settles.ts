import type { Store } from '../store/store.js';
import { type SettleEnvironment, type SettleRequest, type SettleResult, settleOutcomes } from './settle.js';
import { settleInOneStatement } from './settle-in-one-statement.js';

/** What the settles need of their engine. */
export interface SettlingEngine {
  store: Store;
  /** This engine's lease owner. */
  owner: string;
  /** Whether completed steps settle in one statement where they can (PostgreSQL). */
  oneStatement: boolean;
  /** The room a claim may fill now, `freed` outcomes of the batch being settled aside. */
  room(freed: number): number;
  /** The settle environment with `room` to claim in (`owner`/`worker` of the settled attempts). */
  environment(store: Store, room: number, owner?: string, worker?: string): SettleEnvironment;
  /** Acts on a committed settle: runs what it claimed, wakes, aborts. */
  apply(result: SettleResult): void;
}

/** Nothing left to act on (the settle acted already). */
const ACTED: SettleResult = { dispatch: [], wakeAt: undefined, aborted: [], queuedElsewhere: 0 };

/**
 * The engine's settles: its own outcomes (in one statement where they can, else a transaction)
 * and those of external workers' tasks; each acts on what it decided once committed.
 */
export class EngineSettles {
  constructor(private readonly engine: SettlingEngine) {}

  /** Settles a batch of this process's outcomes and acts on it (the result is left empty). */
  async settle(batch: SettleRequest[]): Promise<SettleResult> {
    const { engine } = this;
    let rest = batch;
    if (engine.oneStatement) {
      // What it settles is acted on at once, so the transaction below sees its steps running.
      const settled = await settleInOneStatement(
        engine.store,
        batch,
        engine.environment(engine.store, engine.room(batch.length)),
      );
      if (settled.result) engine.apply(settled.result);
      rest = settled.rest;
    }
    if (rest.length > 0) {
      const room = engine.room(batch.length);
      engine.apply(await engine.store.transaction((tx) => this.#settleIn(tx, rest, room, engine.owner, engine.owner)));
    }
    return ACTED;
  }

  /**
   * Settles outcomes of attempts leased to an external worker's task in one transaction that
   * first runs `check` (which locks and verifies the lease, or throws, and names the lease owner
   * and worker); steps that became ready start here as after any settle. Returns what `check`
   * returned.
   */
  async leased<T>(
    check: (tx: Store) => Promise<{ requests: SettleRequest[]; value: T; owner: string; worker: string }>,
  ): Promise<T> {
    const { engine } = this;
    const room = engine.room(0);
    const { value, result } = await engine.store.transaction(async (tx) => {
      const { requests, value, owner, worker } = await check(tx);
      return { value, result: await this.#settleIn(tx, requests, room, owner, worker) };
    });
    engine.apply(result);
    return value;
  }

  /** Settles `batch` in `tx`, claiming ready steps for this process up to `room`. */
  async #settleIn(
    tx: Store,
    batch: SettleRequest[],
    room: number,
    owner: string,
    worker: string,
  ): Promise<SettleResult> {
    const settled = await settleOutcomes(tx, batch, this.engine.environment(tx, room, owner, worker));
    if (settled.queuedElsewhere > 0) await tx.notify('weft_work');
    for (const aborted of settled.aborted) await tx.notify('weft_cancel', aborted.executionId);
    return settled;
  }
}
