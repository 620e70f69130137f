import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runWeftHere } from './helpers/cli-in-process.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type FinishedCli, runCli, startCli } from './helpers/processes.js';

/**
 * The command line against a server (docs/cli.md): `weft workflows …`, `weft executions …`,
 * `weft signal` and `weft validate --url` against a real server on both databases. The commands
 * run in the test's process (the program bin/weft.js runs, with captured output); what only a
 * child process shows (WEFT_URL and WEFT_API_KEY, the process's exit code) runs as one.
 */

/** A stack trace line: what an API error must never print. */
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

function idOf(result: FinishedCli): string {
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

/** The rows of a table printed by the CLI, split on its two-space column gaps. */
function tableRows(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => line.trim().split(/ {2,}/));
}

for (const backend of testBackends()) {
  describe(`weft against a server (${backend})`, () => {
    let server: TestServer;
    let dir: string;
    /** Runs `weft` in this process against the server, with the admin key. */
    const weft = (args: string[], stdin?: string) =>
      runWeftHere([...args, '--url', server.url, '--api-key', server.adminKey], stdin);
    const file = (name: string, value: unknown) => {
      const target = path.join(dir, name);
      writeFileSync(target, typeof value === 'string' ? value : JSON.stringify(value));
      return target;
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
      dir = server.database.config.dataDir;
    });
    after(async () => {
      await server.close();
    });

    it('creates, lists, shows and updates workflows, as tables and as JSON', async () => {
      const definition = {
        name: 'remote-demo',
        steps: [
          { id: 'first', type: 'noop', input: '{{ input }}' },
          { id: 'second', type: 'noop', depends_on: ['first'], input: '{{ steps.first.output }}' },
        ],
        output: '{{ steps.second.output }}',
      };
      const created = await weft(['workflows', 'create', file('demo.json', definition)]);
      assert.equal(created.code, 0, created.stderr);
      const id = /^created workflow (wf_\w+) 'remote-demo' \(version 1\)$/.exec(created.stdout.trim())?.[1];
      assert.ok(id, created.stdout);
      assert.equal((await server.request('GET', `/workflows/${id}`)).body.name, 'remote-demo');

      // From stdin, with --json: the API's answer.
      const fromStdin = await weft(
        ['workflows', 'create', '-', '--json'],
        JSON.stringify({ ...definition, name: 'other' }),
      );
      const otherId = idOf(fromStdin);
      assert.equal((await server.request('GET', `/workflows/${otherId}`)).status, 200);

      const table = await weft(['workflows', 'list']);
      assert.equal(table.code, 0, table.stderr);
      const rows = tableRows(table.stdout);
      assert.deepEqual(rows[0], ['ID', 'NAME', 'VERSION', 'ENABLED', 'LAST EXECUTION', 'UPDATED']);
      assert.deepEqual(
        rows.slice(1).map((row) => row.slice(0, 5)),
        [
          [otherId, 'other', '1', 'yes', '-'],
          [id, 'remote-demo', '1', 'yes', '-'],
        ],
      );
      const listed = await weft(['workflows', 'list', '--json', '--search', 'remote']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as { items: { id: string }[] }).items.map((item) => item.id),
        [id],
      );

      // By exact name; the steps table follows the fields.
      const shown = await weft(['workflows', 'show', 'remote-demo']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`^id: +${id}$`, 'm'));
      assert.match(shown.stdout, /^version: +1 \(latest 1\)$/m);
      assert.match(shown.stdout, /^STEP +TYPE +DEPENDS ON\nfirst +noop +-\nsecond +noop +first$/m);

      const updated = await weft([
        'workflows',
        'update',
        id as string,
        file('demo-2.json', { ...definition, description: 'second version' }),
      ]);
      assert.equal(updated.code, 0, updated.stderr);
      assert.equal(updated.stdout.trim(), `workflow ${id} 'remote-demo' is at version 2`);
      const latest = await server.request('GET', `/workflows/${id}`);
      assert.equal(latest.body.latest_version, 2);
      assert.equal(latest.body.description, 'second version');
      const first = JSON.parse((await weft(['workflows', 'show', id as string, '--version', '1', '--json'])).stdout);
      assert.equal(first.version, 1);
      assert.equal(first.definition.description, undefined);

      // An invalid definition: the problem's title and each field error, exit 1, nothing saved.
      const invalid = await weft([
        'workflows',
        'create',
        file('bad.json', { name: 'bad', steps: [{ id: 'a', type: 'htp' }] }),
      ]);
      assert.equal(invalid.code, 1);
      assert.match(invalid.stderr, /^weft: Workflow definition is invalid \(400 DEFINITION_INVALID\): /);
      assert.match(invalid.stderr, /^ {2}at \/steps\/0\/type: unknown task type 'htp'/m);
      assert.doesNotMatch(invalid.stderr, STACK_LINE);
      assert.equal((await server.request('GET', '/workflows?q=bad')).body.items.length, 0);
    });

    it('starts, lists and shows executions; watch follows one to its end and signal completes its wait', async () => {
      const workflowId = idOf(
        await weft([
          'workflows',
          'create',
          '--json',
          file('approval.json', {
            name: 'approval',
            steps: [
              { id: 'prepare', type: 'noop', input: '{{ input }}' },
              { id: 'approve', type: 'wait_for_signal', depends_on: ['prepare'], input: { signal: 'approved' } },
            ],
            output: { request: '{{ steps.prepare.output }}', decision: '{{ steps.approve.output }}' },
          }),
        ]),
      );
      const started = await weft([
        'executions',
        'start',
        'approval',
        '--input',
        `@${file('input.json', { amount: 12 })}`,
        '--label',
        'team=ops',
      ]);
      assert.equal(started.code, 0, started.stderr);
      const id = /^started execution (ex_\w+) \((?:running|pending)\)$/.exec(started.stdout.trim())?.[1] as string;
      assert.ok(id, started.stdout);
      await waitUntil(
        async () => (await server.request('GET', `/executions/${id}`)).body.steps[1].status === 'waiting',
        'the wait_for_signal step to wait',
        30_000,
      );

      // A child process, as a user runs it: the stream, the progress and the exit code end to end.
      const watch = startCli(['executions', 'watch', id, '--url', server.url], {
        env: { WEFT_API_KEY: server.adminKey },
      });
      try {
        // Under load a child takes seconds to start.
        await waitUntil(
          () => watch.output.stderr.includes(`waits for signal 'approved'`),
          'watch to show the wait',
          60_000,
        );
        assert.match(watch.output.stderr, /\[1\/2\] prepare: completed\n\[1\/2\] approve: waiting\n/);

        const running = await weft([
          'executions',
          'list',
          '--status',
          'running',
          '--workflow',
          'approval',
          '--label',
          'team=ops',
        ]);
        assert.equal(running.code, 0, running.stderr);
        const rows = tableRows(running.stdout);
        assert.deepEqual(rows[0], ['ID', 'WORKFLOW', 'STATUS', 'PROGRESS', 'CREATED', 'ENDED']);
        assert.deepEqual(
          rows.slice(1).map((row) => row.slice(0, 4)),
          [[id, 'approval v1', 'running', '50%']],
        );
        const none = await weft(['executions', 'list', '--status', 'completed', '--workflow', workflowId, '--json']);
        assert.deepEqual(JSON.parse(none.stdout), { items: [], next_cursor: null });

        const signal = await weft(['signal', id, 'approved', '--payload', '{"by": "ana"}']);
        assert.equal(signal.code, 0, signal.stderr);
        assert.match(signal.stdout, /^signal approved \(sig_\w+\) consumed by step approve$/m);

        const watched = await watch.done;
        assert.equal(watched.code, 0, watched.stderr);
        assert.deepEqual(JSON.parse(watched.stdout), { request: { amount: 12 }, decision: { by: 'ana' } });
        assert.match(watched.stderr, /\[2\/2\] approve: completed\nexecution completed\n$/);
      } finally {
        watch.child.kill();
      }
      assert.equal((await server.request('GET', `/executions/${id}`)).body.status, 'completed');

      const shown = await weft(['executions', 'show', id]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^status: +completed$/m);
      assert.match(shown.stdout, /^prepare +noop +completed +1 /m);
      assert.match(shown.stdout, /^output:\n\{\n {2}"request": \{/m);
      const json = JSON.parse((await weft(['executions', 'show', id, '--json'])).stdout);
      assert.deepEqual(json.output, { request: { amount: 12 }, decision: { by: 'ana' } });
      assert.deepEqual(json.labels, { team: 'ops' });

      // Watching an ended execution prints its end at once; --json prints the execution.
      const again = await weft(['executions', 'watch', id, '--json']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).status, 'completed');

      // A full page says how to get the next one.
      await weft(['executions', 'start', workflowId, '--no-start']);
      const page = await weft(['executions', 'list', '--limit', '1']);
      assert.equal(tableRows(page.stdout).length, 2);
      assert.match(page.stderr, /^more: add --cursor \S+$/m);
    });

    it('start --watch exits 1 with the failure; pause, resume, cancel and retry change the state', async () => {
      const failing = idOf(
        await weft([
          'workflows',
          'create',
          '--json',
          file('failing.json', {
            name: 'failing',
            steps: [{ id: 'boom', type: 'transform', input: { expression: "$error('boom')" } }],
          }),
        ]),
      );
      const failed = await weft(['executions', 'start', failing, '--watch']);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /boom: failed/);
      assert.match(failed.stderr, /^execution failed: .*boom/m);
      assert.equal(failed.stdout, '');
      const failedId = /^started execution (ex_\w+)$/m.exec(failed.stderr)?.[1] as string;
      assert.equal((await server.request('GET', `/executions/${failedId}`)).body.status, 'failed');

      const slow = idOf(
        await weft([
          'workflows',
          'create',
          '--json',
          file('slow.json', {
            name: 'slow',
            steps: [
              { id: 'nap', type: 'delay', input: { seconds: 60 } },
              { id: 'after', type: 'noop', depends_on: ['nap'] },
            ],
          }),
        ]),
      );
      const id = idOf(await weft(['executions', 'start', slow, '--json']));
      const status = async () => (await server.request('GET', `/executions/${id}`)).body.status;
      const paused = await weft(['executions', 'pause', id]);
      assert.equal(paused.stdout.trim(), `execution ${id}: paused`, paused.stderr);
      assert.equal(await status(), 'paused');
      const resumed = await weft(['executions', 'resume', id, '--json']);
      assert.equal(JSON.parse(resumed.stdout).status, 'running', resumed.stderr);
      assert.equal(await status(), 'running');
      const cancelled = await weft(['executions', 'cancel', id]);
      assert.equal(cancelled.stdout.trim(), `execution ${id}: cancelled`, cancelled.stderr);
      assert.equal(await status(), 'cancelled');
      // Cancelling again is the server's 409, printed, exit 1.
      const twice = await weft(['executions', 'cancel', id]);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /^weft: Conflict with the current state \(409 CONFLICT\): cannot cancel/);
      const retried = await weft(['executions', 'retry', id, '--from-step', 'nap']);
      assert.equal(retried.stdout.trim(), `execution ${id}: running`, retried.stderr);
      assert.equal(await status(), 'running');
      assert.equal((await weft(['executions', 'cancel', id])).code, 0);
    });

    it('prints API errors as their problem and exits non-zero, never with a stack trace', async () => {
      const unknown = await weft(['executions', 'show', 'ex_nope']);
      assert.equal(unknown.code, 1);
      assert.equal(unknown.stderr, "weft: Not found (404 NOT_FOUND): execution 'ex_nope' was not found\n");
      assert.equal(unknown.stdout, '');
      const watch = await weft(['executions', 'watch', 'ex_nope']);
      assert.equal(watch.code, 1);
      assert.match(watch.stderr, /^weft: Not found \(404 NOT_FOUND\)/);
      const signal = await weft(['signal', 'ex_nope', 'go']);
      assert.equal(signal.code, 1);
      assert.match(signal.stderr, /^weft: Not found \(404 NOT_FOUND\)/);

      const badKey = await runCli(['workflows', 'list', '--url', server.url], {
        env: { WEFT_API_KEY: 'weft_not-a-key-of-this-server-000000000' },
      });
      assert.equal(badKey.code, 1);
      assert.match(badKey.stderr, /^weft: .*\(401 UNAUTHORIZED\)/);
      assert.doesNotMatch(badKey.stderr, STACK_LINE);

      // WEFT_URL stands for --url; nothing listens there.
      const unreachable = await runCli(['executions', 'list'], {
        env: { WEFT_URL: 'http://127.0.0.1:9', WEFT_API_KEY: server.adminKey },
      });
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /^weft: cannot reach http:\/\/127\.0\.0\.1:9: /);

      // Arguments the CLI cannot use: exit 2 before any call.
      const noKey = await runCli(['executions', 'list', '--url', server.url], { env: { WEFT_API_KEY: '' } });
      assert.equal(noKey.code, 2);
      assert.match(noKey.stderr, /WEFT_API_KEY/);
      const badInput = await weft(['executions', 'start', 'wf_any', '--input', '{oops']);
      assert.equal(badInput.code, 2);
      assert.match(badInput.stderr, /^weft: --input is not valid JSON/);
      const badStatus = await weft(['executions', 'list', '--status', 'done']);
      assert.equal(badStatus.code, 2);
      assert.match(badStatus.stderr, /Allowed choices are pending, queued/);
    });

    it("validate --url checks against the server's task types, workers' included", async () => {
      const declared = await server.request('PUT', '/task-types/media.resize', {
        body: { input_schema: { type: 'object', required: ['url'] } },
      });
      assert.equal(declared.status, 200);
      const definition = file('resize.json', {
        name: 'resize',
        steps: [{ id: 'r', type: 'media.resize', input: { url: 'x' } }],
      });

      const local = await runCli(['validate', definition], { env: { WEFT_API_KEY: server.adminKey } });
      assert.equal(local.code, 1);
      assert.match(local.stderr, /error at \/steps\/0\/type: unknown task type 'media.resize'/);

      const remote = await weft(['validate', definition]);
      assert.equal(remote.code, 0, remote.stderr);
      assert.equal(remote.stdout, `${definition}: valid (1 steps in 1 layers)\n  1. r\n`);

      // The server's schema of the worker type applies.
      const missing = file('resize-bad.json', {
        name: 'resize',
        steps: [{ id: 'r', type: 'media.resize', input: {} }],
      });
      const refused = await weft(['validate', missing]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /error at \/steps\/0\/input: task type 'media.resize' requires input field 'url'/);

      const badKey = await runCli(['validate', definition, '--url', server.url], {
        env: { WEFT_API_KEY: 'weft_not-a-key-of-this-server-000000000' },
      });
      assert.equal(badKey.code, 1);
      assert.match(badKey.stderr, /^weft: .*\(401 UNAUTHORIZED\)/);
    });
  });
}
