import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configureExpressionLimits,
  ExpressionLimitError,
  ExpressionSyntaxError,
  evaluateBounded,
  MAX_PAD_LENGTH,
} from '../src/expressions/index.js';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';
import { cpuShareMeter, percentile, typicalHealthz } from './helpers/loop-latency.js';

/**
 * Expression limits (issue 9, item 1): no user expression can hold the event loop. Runaway
 * recursion, loops and catastrophic regular expressions stop at the time budget or the depth
 * limit, fail their attempt without retry (`EXPRESSION_LIMIT`), and the server answers meanwhile.
 */

const RUNAWAY = '($f := function($x){ $f($x) }; $f(1))';
const DEEP = '($f := function($x){ $x > 100000 ? $x : 1 + $f($x + 1) }; $f(1))';

/**
 * How the event loop turned while `work` ran: the gaps between ticks of a 5 ms timer, and the CPU
 * share the process had. The 90th percentile is asserted rather than the longest gap: the
 * scheduler may take the whole process away for a while, which no code of ours can prevent, while
 * an evaluation that holds the loop makes most gaps long (or leaves no tick at all).
 */
async function loopGaps<T>(work: () => Promise<T>): Promise<{ result: T | Error; gaps: number[]; share: number }> {
  const share = cpuShareMeter();
  let last = performance.now();
  const gaps: number[] = [];
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 5);
  let result: T | Error;
  try {
    result = await work();
  } catch (error) {
    result = error as Error;
  }
  // One more tick, so a stall at the very end is measured too.
  await new Promise((resolve) => setTimeout(resolve, 10));
  clearInterval(timer);
  return { result, gaps, share: share() };
}

describe('bounded evaluation', () => {
  before(async () => {
    // The first evaluations compile JSONata's code (V8 does part of that on the main thread):
    // what is measured below is the loop while an expression burns, not that.
    configureExpressionLimits({ timeoutMs: 50, maxDepth: 500 });
    await evaluateBounded(RUNAWAY, {}).catch(() => undefined);
    configureExpressionLimits({ timeoutMs: 300, maxDepth: 500 });
  });
  after(() => configureExpressionLimits({ timeoutMs: 1000, maxDepth: 500 }));

  it('stops a runaway recursion at the time budget and keeps the loop turning', async () => {
    const started = performance.now();
    const { result, gaps, share } = await loopGaps(() => evaluateBounded(RUNAWAY, {}));
    assert.ok(result instanceof ExpressionLimitError, String(result));
    assert.equal(result.code, 'EXPRESSION_LIMIT');
    assert.match(result.message, /WEFT_EXPRESSION_TIMEOUT_MS \(300 ms\)/);
    assert.ok(performance.now() - started < 2000);
    // 300 ms of burning with a 5 ms timer: dozens of ticks when the loop turns, one when it is held.
    assert.ok(gaps.length >= 3, `the timer ticked only ${gaps.length} times in 300 ms (CPU share ${share})`);
    const typical = percentile(gaps, 0.9);
    assert.ok(
      typical < 50 / share,
      `90% of the loop's gaps were under ${typical.toFixed(1)} ms (longest ${Math.max(...gaps).toFixed(1)}, CPU share ${share.toFixed(2)})`,
    );
  });

  it('stops deep recursion at the depth limit, also through $eval', async () => {
    for (const source of [DEEP, `$eval(${JSON.stringify(DEEP)})`]) {
      const result = await evaluateBounded(source, {}).catch((error: unknown) => error);
      assert.ok(result instanceof ExpressionLimitError, String(result));
      assert.match(result.message, /WEFT_EXPRESSION_MAX_DEPTH \(500\)/);
    }
    // Recursion well inside the limit still works.
    assert.equal(await evaluateBounded('($f := function($x){ $x > 50 ? $x : 1 + $f($x + 1) }; $f(1))', {}), 101);
  });

  it('matches regular expressions in linear time, with the results JSONata gives', async () => {
    const evil = `${'a'.repeat(40)}!`;
    const started = performance.now();
    const result = await evaluateBounded('$match(text, /^(a+)+$/)', { text: evil });
    assert.equal(result, undefined);
    // A backtracking engine takes about 85 s on this input; a linear one well under a millisecond.
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `the match took ${elapsed.toFixed(1)} ms`);
    // JSONata marks its result arrays as sequences; compare the plain data.
    const plain = (value: unknown) => JSON.parse(JSON.stringify(value));
    assert.deepEqual(plain(await evaluateBounded('$match("ab12cd345", /[0-9]+/).match', {})), ['12', '345']);
    assert.equal(await evaluateBounded('$replace("abcabc", /(b)(c)/, "$2$1")', {}), 'acbacb');
    assert.deepEqual(plain(await evaluateBounded('$split("a1b22c", /[0-9]+/)', {})), ['a', 'b', 'c']);
    assert.equal(await evaluateBounded('$contains("ABC", /b/i)', {}), true);
    assert.deepEqual(await evaluateBounded('$match("héllo wörld", /ö(r)/)', {}), {
      match: 'ör',
      index: 7,
      groups: ['r'],
    });
  });

  it('refuses patterns that cannot run in linear time when the expression compiles', async () => {
    for (const source of ['$match(x, /(a)\\1/)', '$match(x, /a(?=b)/)']) {
      await assert.rejects(evaluateBounded(source, { x: 'aa' }), (error: unknown) => {
        assert.ok(error instanceof ExpressionSyntaxError);
        assert.match(error.message, /linear time/);
        return true;
      });
    }
  });

  it('bounds $pad, whose width is user data', async () => {
    assert.equal(await evaluateBounded('$pad("ab", 5, "-")', {}), 'ab---');
    assert.equal(await evaluateBounded('$pad("ab", -5, "xy")', {}), 'xyxab');
    assert.equal(await evaluateBounded('$pad("abc", 2)', {}), 'abc');
    await assert.rejects(evaluateBounded(`$pad("", ${MAX_PAD_LENGTH + 1})`, {}), ExpressionLimitError);
  });
});

for (const backend of testBackends()) {
  describe(`expression limits in executions and triggers (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 50, expressionTimeoutMs: 500 });
      // A first execution compiles the engine's and the API's code paths (V8 does part of that on
      // the main thread): what is measured below is the loop while an expression burns, not that.
      const warmUp = await runAdhoc(server, {
        name: 'warm up',
        steps: [{ id: 'a', type: 'transform', input: { expression: '1', data: {} } }],
      });
      await waitForExecution(server, warmUp, ['completed'], 20_000);
      await typicalHealthz(server, new Promise((resolve) => setTimeout(resolve, 100)));
    });
    after(() => server.close());

    const retry = { max_attempts: 3, backoff: 'fixed', delay_ms: 10 };

    for (const [where, step] of [
      ['a transform', { id: 'burn', type: 'transform', retry, input: { expression: RUNAWAY, data: {} } }],
      ['a when', { id: 'burn', type: 'noop', retry, when: RUNAWAY }],
      ['an input template', { id: 'burn', type: 'noop', retry, input: { value: `{{ ${RUNAWAY} }}` } }],
      [
        'a mapping transform',
        {
          id: 'burn',
          type: 'noop',
          retry,
          depends_on: ['first'],
          input_mappings: [{ from_step: 'first', from_field: 'a', to_field: 'b', transform: RUNAWAY }],
        },
      ],
    ] as const) {
      it(`fails the attempt of ${where} past the budget without retry, answering /healthz meanwhile`, async () => {
        const steps = [{ id: 'first', type: 'noop', input: { a: 1 } }, step];
        const id = await runAdhoc(server, { name: `burn in ${where}`, steps });
        const finished = waitForExecution(server, id, ['completed', 'failed'], 20_000);
        const typical = await typicalHealthz(server, finished);
        const execution = await finished;
        assert.equal(execution.status, 'failed');
        const burn = stepOf(execution, 'burn');
        assert.equal(burn.status, 'failed');
        assert.equal(burn.attempts, 1);
        assert.equal(burn.error.code, 'EXPRESSION_LIMIT');
        assert.equal(burn.error.retryable, false);
        assert.match(burn.error.message, /WEFT_EXPRESSION_TIMEOUT_MS \(500 ms\)/);
        assert.ok(
          typical.p90 < typical.bound,
          `90% of /healthz answers took under ${typical.p90.toFixed(1)} ms while the expression ran (bound ${typical.bound.toFixed(0)})`,
        );
      });
    }

    it('fails an execution whose output template runs past the budget', async () => {
      const id = await runAdhoc(server, {
        name: 'burn in output',
        steps: [{ id: 'first', type: 'noop' }],
        output: { value: `{{ ${RUNAWAY} }}` },
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 20_000);
      assert.equal(execution.status, 'failed');
      assert.equal(execution.error.code, 'EXPRESSION_LIMIT');
    });

    it('counts a trigger condition past the budget as not matching and keeps serving', async () => {
      const created = await server.request('POST', '/workflows', {
        body: {
          name: 'burning trigger',
          triggers: [{ event: 'burn.now', condition: RUNAWAY }, { event: 'burn.now' }],
          steps: [{ id: 'a', type: 'noop' }],
        },
      });
      assert.equal(created.status, 201, created.text);
      const posted = server.request('POST', '/events', { body: { type: 'burn.now', data: {} } });
      const typical = await typicalHealthz(server, posted);
      const outcome = await posted;
      assert.equal(outcome.status, 202, outcome.text);
      // The second trigger of the workflow still matches; the first counts as not matching.
      assert.equal(outcome.body.executions.length, 1);
      assert.equal(outcome.body.skipped.length, 1);
      assert.match(outcome.body.skipped[0].reason, /WEFT_EXPRESSION_TIMEOUT_MS/);
      assert.ok(
        typical.p90 < typical.bound,
        `90% of /healthz answers took under ${typical.p90.toFixed(1)} ms while the condition ran (bound ${typical.bound.toFixed(0)})`,
      );
    });

    it('rejects a definition whose pattern cannot run in linear time', async () => {
      const response = await server.request('POST', '/workflows', {
        body: { name: 'backreference', steps: [{ id: 'a', type: 'noop', when: '$match("aa", /(a)\\1/)' }] },
      });
      assertProblem(response, 400, 'DEFINITION_INVALID');
      assert.equal(response.body.errors[0].path, '/steps/0/when');
      assert.match(response.body.errors[0].message, /linear time/);
    });
  });
}
