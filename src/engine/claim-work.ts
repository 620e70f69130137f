import { nowIso } from '../ids.js';
import { itemStartedEvent } from '../items/item-attempts.js';
import { claimItems } from '../items/item-claims.js';
import type { ClaimedStep, ClaimFilter } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import { stepStartedEvent } from './step-events.js';

/** What one claim round asks for. */
export interface ClaimRound {
  owner: string;
  now: number;
  leaseMs: number;
  /** How many steps and items this process has room for. */
  limit: number;
  filter: ClaimFilter;
  /** Whether items of `for_each` steps may be due (their claim is skipped otherwise). */
  withItems: boolean;
}

/**
 * One claim round of the engine, in the caller's transaction: due steps first, then with the
 * room left the items of `for_each` steps (src/items/), each with its `step.started` event when
 * a new attempt begins. `itemsExhausted`: the item claim ran and found fewer than it had room for.
 */
export async function claimDueWork(
  tx: Store,
  round: ClaimRound,
): Promise<{ claimed: ClaimedStep[]; itemsExhausted: boolean }> {
  const { owner, now, leaseMs, limit, filter } = round;
  const steps = await tx.steps.claimDue(owner, now, now + leaseMs, nowIso(), limit, filter);
  await tx.executionLog.append(
    steps.filter((step) => step.previous_status === 'queued').map((step) => stepStartedEvent(step)),
  );
  const left = limit - steps.length;
  if (left <= 0 || !round.withItems) return { claimed: steps, itemsExhausted: false };
  const items = await claimItems(tx, owner, now, now + leaseMs, nowIso(), left, filter);
  await tx.executionLog.append(
    items.filter((item) => item.previous_status === 'queued').map((item) => itemStartedEvent(item)),
  );
  return { claimed: [...steps, ...items], itemsExhausted: items.length < left };
}
