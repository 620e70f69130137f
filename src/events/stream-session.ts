import type { EventBus, LiveEvent } from './event-bus.js';

/**
 * One live stream (a WebSocket client): the current state first, then every matching event in
 * commit order, none missed and none repeated.
 *
 * The race, and why this order closes it. Events are announced at commit, so a stream that read
 * the state first and subscribed second would lose whatever committed in between. So:
 * 1. Subscribe to the bus first. From here on every commit reaches the stream; events arriving
 *    before the snapshot is sent are buffered.
 * 2. Read the snapshot: the state, and the ids of the events it reflects (`covered`).
 * 3. Send the snapshot, then the buffered and later events, dropping those in `covered`: they
 *    committed before the read, so the snapshot already shows them; the bus may still deliver
 *    them afterwards (they committed after the subscription, or on SQLite were announced after
 *    it), and they are dropped then too.
 * An event committed after the read is not covered and is sent. Since the bus delivers in
 * commit order, once it delivers an uncovered event of an execution the snapshot read, every
 * covered event has already passed, and the set is released.
 */

/** A message on a stream: the webhook payload shape of SPEC §5, plus the event id. */
export interface StreamMessage {
  /** The event id (`evt_…`); absent on snapshots, which are not events. */
  id?: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** The state a stream starts with, and which events it already reflects. */
export interface StreamSnapshot {
  message: StreamMessage;
  /** Ids of the events the snapshot reflects. */
  covered: Set<string>;
  /** Executions whose events `covered` lists completely. */
  executions: Set<string>;
}

/** What a session needs. */
export interface StreamSessionOptions {
  bus: EventBus;
  /** Whether an event belongs on this stream (workspace, execution, workflow filter). */
  accepts(event: LiveEvent): boolean;
  /** Reads the starting state; called after the bus subscription is in place. */
  snapshot(): Promise<StreamSnapshot>;
  /** Sends one message to the client. */
  send(message: StreamMessage): void;
  /** Events may have been missed (the database connection carrying them was lost): end the stream. */
  onGap?(): void;
}

/** An event as a stream message. */
export function eventMessage(event: LiveEvent): StreamMessage {
  return { id: event.id, type: event.type, timestamp: event.created_at, data: event.data };
}

/** One client's stream: subscribe, snapshot, then the events that follow it (see above). */
export class StreamSession {
  /** Events received while the snapshot is read; undefined once it was sent. */
  #buffer: LiveEvent[] | undefined = [];
  #covered: Set<string> | undefined;
  #snapshotExecutions: Set<string> | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(private readonly options: StreamSessionOptions) {}

  /** Subscribes, sends the snapshot, then the events that followed it. Throws when the read fails. */
  async open(): Promise<void> {
    const unsubscribe = await this.options.bus.subscribe(
      (event) => this.#receive(event),
      () => {
        if (!this.#closed) this.options.onGap?.();
      },
    );
    if (this.#closed) {
      await unsubscribe();
      return;
    }
    this.#unsubscribe = unsubscribe;
    const snapshot = await this.options.snapshot();
    if (this.#closed) return;
    this.options.send(snapshot.message);
    this.#covered = snapshot.covered;
    this.#snapshotExecutions = snapshot.executions;
    const buffered = this.#buffer ?? [];
    this.#buffer = undefined;
    for (const event of buffered) this.#deliver(event);
  }

  /** Stops receiving events (idempotent). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#buffer = undefined;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    await unsubscribe?.();
  }

  #receive(event: LiveEvent): void {
    if (this.#closed || !this.options.accepts(event)) return;
    if (this.#buffer) this.#buffer.push(event);
    else this.#deliver(event);
  }

  #deliver(event: LiveEvent): void {
    if (this.#covered) {
      if (this.#covered.delete(event.id)) return;
      if (this.#snapshotExecutions?.has(event.execution_id)) {
        this.#covered = undefined;
        this.#snapshotExecutions = undefined;
      }
    }
    this.options.send(eventMessage(event));
  }
}
