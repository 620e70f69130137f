import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { browserUnavailable, launchBrowser, signIn, type TestBrowser } from './helpers/browser.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { ADMIN_KEY, serveEnv } from './helpers/serve-restarts.js';
import { apiOf, createScenarioWorkflows, must, waitForStep } from './helpers/ui-scenarios.js';

/**
 * The UI is database-agnostic; its live updates are not: on PostgreSQL they come through
 * LISTEN/NOTIFY from whichever process committed. Two `weft serve` processes share one database;
 * the browser watches through the first while the signal goes through the second.
 */

const skip =
  browserUnavailable() ?? (testBackends().includes('postgres') ? undefined : 'PostgreSQL is off for this run');

describe('UI: live updates on PostgreSQL across processes', { skip }, () => {
  let database: TestDatabase;
  let watched: ServeProcess;
  let other: ServeProcess;
  let browser: TestBrowser;

  before(async () => {
    database = await createTestDatabase('postgres', { migrated: true });
    [watched, other] = await Promise.all([
      startServe(serveEnv(database, { WEFT_NODE_ID: 'ui-live-a' })),
      startServe(serveEnv(database, { WEFT_NODE_ID: 'ui-live-b' })),
    ]);
    browser = await launchBrowser('postgres');
  });

  after(async () => {
    await browser?.close();
    await Promise.all([watched?.stop(), other?.stop()]);
    await database?.drop();
  });

  it('recolours the graph and the list when another process completes a step', async () => {
    const api = apiOf(other.url, ADMIN_KEY);
    const { approval } = await createScenarioWorkflows(api);
    const started = await must(api, 'POST', `/workflows/${approval.id}/executions`, { input: {} }, 202);
    await waitForStep(api, started.id, 'approve', 'waiting');
    const { page, errors } = await browser.page();
    await signIn(page, watched.url, ADMIN_KEY, `/executions/${started.id}`);
    await page
      .locator('.react-flow[data-laid-out=true] [data-step-id=approve][data-status=waiting]')
      .waitFor({ timeout: 30_000 })
      .catch(async (error) => {
        await browser.screenshot(page, 'live-failure');
        throw new Error(`${error.message}\nURL ${page.url()}\nerrors ${errors.join('; ')}`);
      });
    await page.locator('[data-live=live]').waitFor();
    await must(api, 'POST', `/executions/${started.id}/signals/approval`, { data: { by: 'pg' } }, 202);
    await page.locator('[data-view=graph] [data-step-id=publish][data-status=completed]').waitFor({ timeout: 10_000 });
    await page.locator('[data-execution-status=completed]').waitFor();

    await page.goto(`${watched.url}/executions`);
    await page.locator('[data-live=live]').waitFor();
    const next = await must(api, 'POST', `/workflows/${approval.id}/executions`, { input: {} }, 202);
    await page.locator(`tr[data-execution-id="${next.id}"][data-status=running]`).waitFor({ timeout: 10_000 });
    await must(api, 'POST', `/executions/${next.id}/cancel`, {}, 200);
    await page.locator(`tr[data-execution-id="${next.id}"][data-status=cancelled]`).waitFor({ timeout: 10_000 });
    await browser.screenshot(page, 'executions-live');
    assert.deepEqual(errors, []);
  });
});
