import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventBus, type LiveEvent } from '../src/events/event-bus.js';
import { type StreamMessage, StreamSession } from '../src/events/stream-session.js';
import { readConsistently } from '../src/events/stream-snapshot.js';
import { nowIso } from '../src/ids.js';
import type { Store } from '../src/store/store.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';

/**
 * The subscribe-then-read protocol of a stream, with commits placed exactly in the windows of the
 * race (after the subscription, during the state read, before the snapshot is sent), on a real
 * store and event bus.
 */

for (const backend of testBackends()) {
  describe(`stream sessions (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;
    let bus: EventBus;
    const errors: unknown[] = [];
    let counter = 0;

    /** Commits one event of `executionId`; returns its id. */
    const commit = async (executionId: string) => {
      counter += 1;
      const [event] = await store.transaction((tx) =>
        tx.executionLog.append([
          {
            workspaceId: 'ws_test',
            executionId,
            type: 'step.completed',
            stepId: `s${counter}`,
            data: { execution_id: executionId, workflow_id: null, status: 'completed', n: counter },
            at: nowIso(),
          },
        ]),
      );
      if (!event) throw new Error('nothing was appended');
      return event.id;
    };

    /** Everything the bus delivers, to tell when an event has passed it. */
    const delivered: LiveEvent[] = [];
    const passed = (id: string) =>
      waitUntil(() => delivered.some((event) => event.id === id), `event ${id} on the bus`);

    /** Opens a session on `executionId`; `during` runs inside its snapshot read. */
    const session = async (executionId: string, during: (phase: 'before-read' | 'after-read') => Promise<void>) => {
      const sent: StreamMessage[] = [];
      const opened = new StreamSession({
        bus,
        accepts: (event) => event.execution_id === executionId,
        snapshot: async () => {
          await during('before-read');
          const { state, covered } = await readConsistently(
            store,
            [executionId],
            async () => (await store.executionLog.eventIds([executionId])).length,
          );
          await during('after-read');
          return {
            message: { type: 'execution.snapshot', timestamp: nowIso(), data: { events_seen: state } },
            covered,
            executions: new Set([executionId]),
          };
        },
        send: (message) => sent.push(message),
      });
      await opened.open();
      return { sent, session: opened };
    };

    before(async () => {
      database = await createTestDatabase(backend);
      store = database.open();
      await store.migrate();
      bus = new EventBus(store, (error) => errors.push(error));
      await bus.subscribe((event) => delivered.push(event));
    });
    after(async () => {
      await bus.close();
      await store.close();
      await database.drop();
      assert.deepEqual(errors, []);
    });

    it('does not repeat an event that committed after the subscription and is in the snapshot', async () => {
      const execution = 'ex_covered';
      const earlier = await commit(execution);
      let inWindow = '';
      const { sent, session: opened } = await session(execution, async (phase) => {
        if (phase === 'before-read') inWindow = await commit(execution);
      });
      await passed(inWindow);
      const later = await commit(execution);
      await passed(later);
      await waitUntil(() => sent.length >= 2, 'the later event');
      assert.equal(sent[0]?.type, 'execution.snapshot');
      assert.equal(sent[0]?.data.events_seen, 2, 'the snapshot reflects the event committed in the window');
      assert.deepEqual(
        sent.slice(1).map((message) => message.id),
        [later],
        `neither ${earlier} (before the subscription) nor ${inWindow} (in the snapshot) is sent`,
      );
      await opened.close();
    });

    it('sends an event that committed after the read, before the snapshot went out, right after it', async () => {
      const execution = 'ex_buffered';
      let afterRead = '';
      const { sent, session: opened } = await session(execution, async (phase) => {
        if (phase !== 'after-read') return;
        afterRead = await commit(execution);
        await passed(afterRead);
      });
      await waitUntil(() => sent.length >= 2, 'the buffered event');
      assert.equal(sent[0]?.type, 'execution.snapshot');
      assert.equal(sent[0]?.data.events_seen, 0);
      assert.deepEqual(
        sent.slice(1).map((message) => message.id),
        [afterRead],
      );
      await opened.close();
    });

    it('reads again when a change commits during the state read, so the state matches what it covers', async () => {
      const execution = 'ex_moving';
      await commit(execution);
      let reads = 0;
      let during = '';
      const { state, covered } = await readConsistently(store, [execution], async () => {
        reads += 1;
        if (reads === 1) during = await commit(execution);
        return reads;
      });
      assert.equal(state, 2, 'the first read raced a commit and was done again');
      assert.ok(covered.has(during));
      assert.equal(covered.size, 2);
    });

    it('stops delivering once closed', async () => {
      const execution = 'ex_closed';
      const { sent, session: opened } = await session(execution, async () => undefined);
      await opened.close();
      const id = await commit(execution);
      await passed(id);
      assert.deepEqual(
        sent.map((message) => message.type),
        ['execution.snapshot'],
      );
    });
  });
}
