import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { browserUnavailable, launchBrowser, signIn, type TestBrowser } from './helpers/browser.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { ADMIN_KEY, serveEnv } from './helpers/serve-restarts.js';
import {
  type Api,
  apiOf,
  createScenarioWorkflows,
  fanOut,
  must,
  waitForStatus,
  waitForStep,
} from './helpers/ui-scenarios.js';

/**
 * The execution pages in a real browser against a real `weft serve` on SQLite (SPEC §7): every
 * node's status as the API has it, a failed step's error, live changes after API calls, cancel
 * and signals from the UI, the item table and parent/child links, the timeline, and the 500-step
 * graph. Every page must end without an uncaught error.
 */

const skip = browserUnavailable();

describe('UI: executions', { skip }, () => {
  let database: TestDatabase;
  let serve: ServeProcess;
  let browser: TestBrowser;
  let api: Api;
  let workflows: Awaited<ReturnType<typeof createScenarioWorkflows>>;
  let page: Page;
  let errors: string[];

  before(async () => {
    database = await createTestDatabase('sqlite', { migrated: true });
    serve = await startServe(serveEnv(database, { WEFT_NODE_ID: 'ui-executions' }));
    api = apiOf(serve.url, ADMIN_KEY);
    workflows = await createScenarioWorkflows(api);
    browser = await launchBrowser('executions');
    ({ page, errors } = await browser.page());
    await signIn(page, serve.url, ADMIN_KEY);
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
    await database?.drop();
  });

  /** Opens an execution page and waits until its graph is laid out. */
  async function openExecution(id: string, query = '') {
    await page.goto(`${serve.url}/executions/${id}${query}`);
    await page.locator('.react-flow[data-laid-out=true] [data-step-id]').first().waitFor({ timeout: 30_000 });
  }

  /** The statuses the graph shows, by step id. */
  async function graphStatuses(): Promise<Record<string, string>> {
    return page.$$eval('[data-view=graph] [data-step-id][data-status]', (nodes) =>
      Object.fromEntries(nodes.map((node) => [node.getAttribute('data-step-id'), node.getAttribute('data-status')])),
    );
  }

  it('shows every step of a finished execution with the status the API gives it, and its edges', async () => {
    const started = await must(
      api,
      'POST',
      `/workflows/${workflows.pipeline.id}/executions`,
      { input: { folder: 'f1', images: ['a.png', 'b.png', 'c.png'] } },
      202,
    );
    const done = await waitForStatus(api, started.id, ['completed']);
    await openExecution(started.id);
    const expected = Object.fromEntries(
      done.steps.map((step: { step_id: string; status: string }) => [step.step_id, step.status]),
    );
    assert.deepEqual(await graphStatuses(), expected);
    const definition = await must(api, 'GET', `/executions/${started.id}/definition`, undefined, 200);
    const edgeCount = definition.plan.steps.reduce(
      (sum: number, step: { dependencies: string[] }) => sum + step.dependencies.length,
      0,
    );
    assert.equal(await page.locator('.react-flow__edge').count(), edgeCount);
    // The for_each node shows its item counts as the API counts them.
    const tag = done.steps.find((step: { step_id: string }) => step.step_id === 'tag');
    assert.deepEqual(
      JSON.parse(
        (await page.locator('[data-step-id=tag] [data-item-counts]').getAttribute('data-item-counts')) ?? '{}',
      ),
      tag.items,
    );
    await browser.screenshot(page, 'execution-completed');

    // The step panel of a for_each step pages its items; a workflow step links each item to its child.
    await page.locator('[data-view=graph] [data-step-id=colorize]').click();
    await page.locator('[data-view=items] tr[data-item-index]').first().waitFor();
    assert.equal(await page.locator('[data-view=items] tr[data-item-index]').count(), 3);
    assert.match(page.url(), /[?&]step=colorize/);
    await browser.screenshot(page, 'execution-items');
    await page.locator('[data-view=items] tr[data-item-index="0"] a', { hasText: 'child' }).click();
    await page.locator('[data-link=parent]').waitFor();
    assert.match(await page.locator('[data-link=parent]').innerText(), new RegExp(started.id));
    await page.locator('[data-link=parent] a').click();
    await page.waitForURL(new RegExp(`/executions/${started.id}`));

    // The timeline draws one bar per attempt the API lists.
    await page.goto(`${serve.url}/executions/${started.id}?tab=timeline`);
    const timeline = await must(api, 'GET', `/executions/${started.id}/timeline`, undefined, 200);
    await page.locator('[data-view=timeline] [data-step-id][data-attempt]').first().waitFor();
    assert.equal(
      await page.locator('[data-view=timeline] [data-step-id][data-attempt]').count(),
      timeline.items.length,
    );
    await browser.screenshot(page, 'timeline');
    assert.deepEqual(errors, []);
  });

  it('names the failed step in a banner and shows its error in the step panel', async () => {
    const started = await must(api, 'POST', `/workflows/${workflows.failing.id}/executions`, { input: {} }, 202);
    const failed = await waitForStatus(api, started.id, ['failed']);
    const download = failed.steps.find((step: { step_id: string }) => step.step_id === 'download');
    await openExecution(started.id);
    assert.deepEqual(
      await graphStatuses(),
      Object.fromEntries(failed.steps.map((step: { step_id: string; status: string }) => [step.step_id, step.status])),
    );
    const banner = page.locator('[data-banner=failure]');
    assert.match(await banner.innerText(), /Failed at step download after 2 attempts/);
    assert.match(
      await banner.innerText(),
      new RegExp(download.error.message.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    );
    await page.locator('[data-view=graph] [data-step-id=download]').click();
    const panelError = page.locator('[data-step-error=download]');
    await panelError.waitFor();
    assert.equal((await panelError.innerText()).trim(), download.error.message);
    // The attempts come with the timeline, a request of their own that may answer after the step.
    await page.locator('[data-step-panel=download] tr[data-attempt]').first().waitFor();
    assert.equal(await page.locator('[data-step-panel=download] tr[data-attempt]').count(), 2);
    await browser.screenshot(page, 'execution-failed');
    // The keyboard reaches steps too: a focused node opens with Enter.
    await page.locator('.react-flow__node[data-id=extract]').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-step-panel=extract]').waitFor();
    assert.deepEqual(errors, []);
  });

  it('recolours a step live when a signal sent through the API completes it, without a reload', async () => {
    const started = await must(api, 'POST', `/workflows/${workflows.approval.id}/executions`, { input: {} }, 202);
    await waitForStep(api, started.id, 'approve', 'waiting');
    await openExecution(started.id);
    await page.locator('[data-live=live]').waitFor();
    assert.equal((await graphStatuses()).approve, 'waiting');
    assert.match(await page.locator('[data-banner=waiting]').innerText(), /approve waits for signal approval/);
    await must(api, 'POST', `/executions/${started.id}/signals/approval`, { data: { by: 'ana' } }, 202);
    await page.locator('[data-view=graph] [data-step-id=approve][data-status=completed]').waitFor({ timeout: 10_000 });
    await page.locator('[data-execution-status=completed]').waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
  });

  it('sends a signal from the signals form and shows which step consumed it', async () => {
    const started = await must(api, 'POST', `/workflows/${workflows.approval.id}/executions`, { input: {} }, 202);
    await waitForStep(api, started.id, 'approve', 'waiting');
    await page.goto(`${serve.url}/executions/${started.id}?tab=signals`);
    await page.locator('[data-awaited=approval]').click();
    await page.locator('textarea[name=signal_data]').fill('{"by": "bo"}');
    await browser.screenshot(page, 'signals-form');
    await page.getByRole('button', { name: 'Send signal' }).click();
    assert.match(await page.locator('[data-signal-sent]').innerText(), /consumed by step approve/);
    const done = await waitForStatus(api, started.id, ['completed']);
    assert.deepEqual(done.steps.find((step: { step_id: string }) => step.step_id === 'approve').output, { by: 'bo' });
    await page.locator('tr[data-signal=approval]').waitFor();
    assert.deepEqual(errors, []);
  });

  it('cancels a running execution from its page', async () => {
    const started = await must(api, 'POST', `/workflows/${workflows.slow.id}/executions`, { input: {} }, 202);
    await waitForStep(api, started.id, 'render', 'waiting');
    await openExecution(started.id);
    await page.locator('button[data-action=cancel]').click();
    await page.locator('[data-execution-status=cancelled]').waitFor({ timeout: 10_000 });
    const cancelled = await must(api, 'GET', `/executions/${started.id}`, undefined, 200);
    assert.equal(cancelled.status, 'cancelled');
    assert.deepEqual(
      await graphStatuses(),
      Object.fromEntries(
        cancelled.steps.map((step: { step_id: string; status: string }) => [step.step_id, step.status]),
      ),
    );
    assert.deepEqual(errors, []);
  });

  it('lays out an execution of 500 parallel steps, fitted to the view, and stays pannable', async () => {
    const workflow = await must(api, 'POST', '/workflows', fanOut(500), 201);
    const started = await must(api, 'POST', `/workflows/${workflow.id}/executions`, { input: {} }, 202);
    await waitForStatus(api, started.id, ['completed'], 60_000);
    const opened = Date.now();
    await openExecution(started.id);
    await page.locator('[data-view=graph] [data-step-id=join]').waitFor();
    console.log(`500-step execution: graph laid out ${Date.now() - opened} ms after navigation`);
    assert.equal(await page.locator('[data-view=graph] [data-step-id]').count(), 502);
    assert.equal(await page.locator('[data-view=graph] [data-status=completed]').count(), 502);
    // Fitted: every node is inside the graph's frame.
    const frame = await page.locator('[data-view=graph]').boundingBox();
    const join = await page.locator('[data-step-id=join]').boundingBox();
    assert.ok(
      frame && join && join.x + join.width <= frame.x + frame.width + 1 && join.y >= frame.y - 1,
      'the join is in view',
    );
    await browser.screenshot(page, 'fan-out-500');
    // Pannable: dragging the pane moves the graph.
    const before = await page.locator('.react-flow__viewport').getAttribute('style');
    // From the margin that fitting leaves around the graph (the folded block covers the middle).
    await page.mouse.move(frame.x + 12, frame.y + 12);
    await page.mouse.down();
    await page.mouse.move(frame.x + 212, frame.y + 112, { steps: 5 });
    await page.mouse.up();
    assert.notEqual(await page.locator('.react-flow__viewport').getAttribute('style'), before);
    assert.deepEqual(errors, []);
  });

  it('shows the execution page in the dark theme', async () => {
    const { page: dark, errors: darkErrors, context } = await browser.page({ colorScheme: 'dark' });
    await signIn(dark, serve.url, ADMIN_KEY);
    const started = await must(api, 'POST', `/workflows/${workflows.failing.id}/executions`, { input: {} }, 202);
    await waitForStatus(api, started.id, ['failed']);
    await dark.goto(`${serve.url}/executions/${started.id}?step=download`);
    await dark.locator('.react-flow[data-laid-out=true] [data-step-id]').first().waitFor();
    await dark.locator('[data-step-error=download]').waitFor();
    const background = await dark.evaluate('getComputedStyle(document.documentElement).backgroundColor');
    assert.notEqual(background, 'rgb(246, 247, 249)', 'the dark theme is applied');
    await browser.screenshot(dark, 'execution-dark');
    await context.close();
    assert.deepEqual(darkErrors, []);
  });
});
