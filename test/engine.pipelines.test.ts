import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FixtureServer, startFixtureServer, stepOf, waitForExecution } from './helpers/http-fixtures.js';

const ARTICLE = `<!doctype html><html><head><title>Rivers of the North</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Rivers of the North</h1>
<p>The northern rivers freeze in winter and thaw in a single week of spring, when the ice breaks with a sound
that carries for miles across the valleys and wakes every village along the banks.</p>
<p>Fishermen wait for that week all year. The water runs fast and cold, and the salmon come up from the sea
in numbers that nobody who has not seen them would believe.</p>
<p>By summer the rivers are slow and warm again, and children swim where the ice stood a few months before.</p>
</article><footer>Copyright the river society</footer></body></html>`;

for (const backend of testBackends()) {
  describe(`seed pipelines (${backend})`, () => {
    let site: FixtureServer;
    let llm: FixtureServer;
    let server: TestServer;

    before(async () => {
      site = await startFixtureServer(({ path }) =>
        path === '/article' ? { text: ARTICLE, contentType: 'text/html; charset=utf-8' } : { status: 404, text: 'no' },
      );
      llm = await startFixtureServer(({ body }) => {
        const request = body as { model: string; messages: Array<{ content: string }> };
        const prompt = request.messages.map((message) => message.content).join('\n');
        const mentionsSalmon = prompt.includes('salmon');
        return {
          json: {
            model: request.model,
            choices: [
              { message: { role: 'assistant', content: mentionsSalmon ? 'Rivers thaw; salmon run.' : 'No article.' } },
            ],
            usage: { prompt_tokens: prompt.length, completion_tokens: 5 },
          },
        };
      });
      server = await startTestServer(backend, { llmBaseUrl: llm.url, llmModel: 'summarizer', pollIntervalMs: 100 });
    });
    after(async () => {
      await server.close();
      await site.close();
      await llm.close();
    });

    it('downloads a page, extracts its text and summarizes it (webpage summary template)', async () => {
      const template = (await server.request('GET', '/templates')).body.items.find(
        (item: { id: string }) => item.id === 'webpage-summary',
      );
      const workflow = await server.request('POST', '/workflows', { body: template.definition });
      const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { webpage_url: `${site.url}/article` }, reference: 'article-1' },
      });
      assert.equal(started.status, 202);
      assert.equal(started.body.workflow_version, 1);
      const execution = await waitForExecution(server, started.body.id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, { title: 'Rivers of the North', summary: 'Rivers thaw; salmon run.' });
      const extracted = stepOf(execution, 'extract').output.text as string;
      assert.match(extracted, /salmon come up from the sea/);
      assert.doesNotMatch(extracted, /Copyright the river society/, 'boilerplate around the article is dropped');
      const llmRequest = llm.requests.at(-1)?.body as { messages: Array<{ role: string; content: string }> };
      assert.equal(llmRequest.messages[0]?.role, 'system');
      assert.match(llmRequest.messages[1]?.content ?? '', /at most 120 words/, 'the input_schema default was applied');
      assert.equal(execution.progress.percent, 100);
    });

    it('rejects an input that does not match the input_schema with the failing path', async () => {
      const template = (await server.request('GET', '/templates')).body.items.find(
        (item: { id: string }) => item.id === 'webpage-summary',
      );
      const workflow = await server.request('POST', '/workflows', { body: template.definition });
      const response = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { max_words: 'many' } },
      });
      assert.equal(response.status, 400);
      const paths = response.body.errors.map((error: { path: string }) => error.path).sort();
      assert.deepEqual(paths, ['/input', '/input/max_words']);
    });

    it('generates, then refines with input mappings, falling back after the refine provider fails twice', async () => {
      let refineCalls = 0;
      const providers = await startFixtureServer(({ path, body }) => {
        if (path === '/generate')
          return { json: { result_image_path: `/images/${(body as { prompt: string }).prompt}.png` } };
        if (path === '/refine') {
          refineCalls += 1;
          return { status: 503, json: { error: 'overloaded' } };
        }
        if (path === '/fallback-refine') {
          const base = (body as { base_image_url: string }).base_image_url;
          return { json: { result_image_path: `${base}?refined=fallback` } };
        }
        return { status: 404, text: 'no' };
      });
      try {
        const definition = {
          name: 'Generate and refine',
          steps: [
            {
              id: 'generate',
              type: 'http',
              input: { url: `${providers.url}/generate`, method: 'POST', body: { prompt: '{{ input.prompt }}' } },
            },
            {
              id: 'refine',
              type: 'http',
              input: { url: `${providers.url}/refine`, method: 'POST', body: {} },
              input_mappings: [
                {
                  from_step: 'generate',
                  from_field: 'body.result_image_path',
                  to_field: 'body.base_image_url',
                  transform: "$ & ''",
                },
              ],
              retry: { max_attempts: 2, backoff: 'exponential', delay_ms: 50, jitter: false },
              fallback: { type: 'http', input: { url: `${providers.url}/fallback-refine`, method: 'POST', body: {} } },
            },
          ],
          output: { image: '{{ steps.refine.output.body.result_image_path }}' },
        };
        const workflow = await server.request('POST', '/workflows', { body: definition });
        const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
          body: { input: { prompt: 'owl' } },
        });
        const execution = await waitForExecution(server, started.body.id, ['completed', 'failed']);
        assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
        assert.deepEqual(execution.output, { image: '/images/owl.png?refined=fallback' });
        assert.equal(refineCalls, 2, 'two attempts at the failing provider');
        const refine = stepOf(execution, 'refine');
        assert.equal(refine.attempts, 3);
        assert.equal(refine.used_fallback, true);
        const fallbackRequest = providers.requests.find((request) => request.path === '/fallback-refine');
        assert.deepEqual(
          fallbackRequest?.body,
          { base_image_url: '/images/owl.png' },
          'the mapping applies to the fallback too',
        );

        const timeline = await server.request('GET', `/executions/${started.body.id}/timeline`);
        const attempts = timeline.body.items.filter((item: { step_id: string }) => item.step_id === 'refine');
        assert.deepEqual(
          attempts.map((item: { attempt: number; status: string; used_fallback: boolean }) => [
            item.attempt,
            item.status,
            item.used_fallback,
          ]),
          [
            [1, 'failed', false],
            [2, 'failed', false],
            [3, 'completed', true],
          ],
        );
        assert.match(attempts[0].error.message, /answered 503/);
        assert.ok(attempts.every((item: { duration_ms: number | null }) => typeof item.duration_ms === 'number'));
        const events = await server.request('GET', `/executions/${started.body.id}/events?order=asc&limit=200`);
        const refineEvents = events.body.items
          .filter((event: { step_id: string | null }) => event.step_id === 'refine')
          .map((event: { type: string }) => event.type);
        assert.deepEqual(refineEvents, [
          'step.started',
          'step.retrying',
          'step.started',
          'step.retrying',
          'step.started',
          'step.completed',
        ]);
      } finally {
        await providers.close();
      }
    });
  });
}
