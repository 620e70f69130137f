import { nowIso } from '../ids.js';
import { type ClaimedStep, StepRepository } from '../store/repositories/step-repository.js';
import type { PreparedExecution } from './start-execution.js';

/**
 * Claims at start: the root steps of executions started in this process are inserted already
 * claimed by its engine, when it has room and runs their type, instead of inserted queued and
 * claimed by a second transaction a moment later. The rows are what a claim would have made of
 * them (running, leased, first attempt, started now), in the inserting transaction, with their
 * `step.started` events; the engine runs them once that commits. A step the engine has no room
 * for, or leaves to external workers, is inserted queued as before and announced.
 */

/** What the engine has room for now (the same figures a settle's claims use). */
export interface StartClaimRoom {
  owner: string;
  leaseMs: number;
  /** Steps this process may start now. */
  capacity: number;
  /** Steps of a workspace it may start now (its share of the slots). */
  workspaceRoom(workspaceId: string): number;
  /** Whether it runs steps of a type. */
  claimsType(type: string): boolean;
}

/**
 * The prepared executions with the root steps this process claims marked claimed (copies; the
 * input is not changed), and those steps as claimed. Executions under a `concurrency` block are
 * left to admission, which decides at insert whether they run.
 */
export function claimRoots(
  prepared: readonly PreparedExecution[],
  room: StartClaimRoom,
): { prepared: PreparedExecution[]; claimed: ClaimedStep[] } {
  let left = room.capacity;
  const workspaceLeft = new Map<string, number>();
  const claimed: ClaimedStep[] = [];
  const leaseUntil = Date.now() + room.leaseMs;
  const at = nowIso();
  const marked = prepared.map((entry) => {
    const { execution } = entry;
    if (left <= 0 || entry.concurrency || execution.status !== 'running') return entry;
    let steps = entry.steps;
    for (const [index, step] of entry.steps.entries()) {
      if (step.status !== 'queued' || !room.claimsType(step.attempt_type)) continue;
      const workspaceRoom = workspaceLeft.get(step.workspace_id) ?? room.workspaceRoom(step.workspace_id);
      if (left <= 0 || workspaceRoom <= 0) break;
      const row = {
        ...step,
        status: 'running',
        lease_owner: room.owner,
        lease_expires_at: leaseUntil,
        attempts: step.attempts + 1,
        started_at: at,
      };
      if (steps === entry.steps) steps = [...entry.steps];
      steps[index] = row;
      claimed.push(StepRepository.claimed(row, execution));
      left -= 1;
      workspaceLeft.set(step.workspace_id, workspaceRoom - 1);
    }
    return steps === entry.steps ? entry : { ...entry, steps };
  });
  return { prepared: marked, claimed };
}
