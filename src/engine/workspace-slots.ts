/**
 * The per-workspace share of one engine's slots (`WEFT_WORKSPACE_SLOT_SHARE`): how many steps each
 * workspace runs here, and what the next claim may take so a workspace whose steps hang cannot
 * starve the others. Counts only what this process runs; the claim query does the rest.
 */
export class WorkspaceSlots {
  readonly #running = new Map<string, number>();
  /** Slots one workspace may hold at once. */
  readonly cap: number;

  /** `concurrency` slots, of which one workspace may hold `sharePercent` (at least one). */
  constructor(concurrency: number, sharePercent: number) {
    this.cap = Math.max(1, Math.floor((concurrency * Math.min(100, sharePercent)) / 100));
  }

  /** A step of `workspaceId` started here. */
  take(workspaceId: string): void {
    this.#running.set(workspaceId, (this.#running.get(workspaceId) ?? 0) + 1);
  }

  /** A step of `workspaceId` ended here. */
  give(workspaceId: string): void {
    const left = (this.#running.get(workspaceId) ?? 1) - 1;
    if (left > 0) this.#running.set(workspaceId, left);
    else this.#running.delete(workspaceId);
  }

  /** Slots a workspace may still take here. */
  room(workspaceId: string): number {
    return this.cap - (this.#running.get(workspaceId) ?? 0);
  }

  /**
   * What the next claim may take with `capacity` free slots: workspaces at their share are left
   * out, and the batch is no larger than the room of the busiest workspace still in, since all of
   * it may be that one's.
   */
  claimBounds(capacity: number): { limit: number; full: string[] } {
    const full: string[] = [];
    let busiest = 0;
    for (const [workspaceId, running] of this.#running) {
      if (running >= this.cap) full.push(workspaceId);
      else busiest = Math.max(busiest, running);
    }
    return { limit: Math.min(capacity, 100, this.cap - busiest), full };
  }
}
