import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { browserUnavailable, launchBrowser, type TestBrowser } from './helpers/browser.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { ADMIN_KEY, serveEnv } from './helpers/serve-restarts.js';
import { type Api, apiOf, createScenarioWorkflows, must, waitForStatus } from './helpers/ui-scenarios.js';

/**
 * Sign-in, the workflow pages and the executions list in a real browser against a real `weft
 * serve` on SQLite (SPEC §7): the key kept for the tab and any 401 back to sign-in, the list as
 * the API has it, a workflow's DAG and versions, creating with validation errors at their paths,
 * starting a run from the form generated from `input_schema`, and the executions list's filters,
 * live statuses and bulk cancel.
 */

const skip = browserUnavailable();

describe('UI: sign-in, workflows and executions list', { skip }, () => {
  let database: TestDatabase;
  let serve: ServeProcess;
  let browser: TestBrowser;
  let api: Api;
  let workflows: Awaited<ReturnType<typeof createScenarioWorkflows>>;
  let page: Page;
  let errors: string[];

  before(async () => {
    database = await createTestDatabase('sqlite', { migrated: true });
    serve = await startServe(serveEnv(database, { WEFT_NODE_ID: 'ui-workflows' }));
    api = apiOf(serve.url, ADMIN_KEY);
    workflows = await createScenarioWorkflows(api);
    browser = await launchBrowser('workflows');
    ({ page, errors } = await browser.page());
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
    await database?.drop();
  });

  it('serves the app at its paths and keeps the API, docs and health routes', async () => {
    for (const path of ['/', '/workflows', '/executions/ex_nope', '/workers', '/sign-in']) {
      const response = await fetch(`${serve.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(await response.text(), /<div id="root">/, path);
    }
    assert.equal((await fetch(`${serve.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${serve.url}/openapi.json`)).status, 200);
    const unknown = await fetch(`${serve.url}/no-such-page`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get('content-type') ?? '', /problem\+json/);
    const apiAnswer = await fetch(`${serve.url}/api/v1/workflows`);
    assert.equal(apiAnswer.status, 401);
  });

  it('refuses an unknown key, signs in with a good one and returns to the page asked for', async () => {
    await page.goto(`${serve.url}/workflows/${workflows.approval.id}`);
    await page.waitForURL(/\/sign-in\?next=/);
    await browser.screenshot(page, 'sign-in');
    await page.locator('input[name=api_key]').fill('weft_not_a_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.getByRole('alert').innerText(), /does not know this key/);
    await page.locator('input[name=api_key]').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(new RegExp(`/workflows/${workflows.approval.id}$`));
    await page.locator(`.page[data-workflow-id="${workflows.approval.id}"]`).waitFor();
    assert.match(page.url(), new RegExp(`/workflows/${workflows.approval.id}$`));
    assert.equal(await page.evaluate('sessionStorage.getItem("weft.api_key")'), ADMIN_KEY);
  });

  it('lists the workflows the API lists, with their last run', async () => {
    await must(api, 'POST', `/workflows/${workflows.failing.id}/executions`, { input: {} }, 202);
    await page.goto(`${serve.url}/workflows`);
    await page.locator('[data-list=workflows] tr[data-workflow-id]').first().waitFor();
    const listed = await must(api, 'GET', '/workflows?limit=50', undefined, 200);
    const shown = await page.$$eval('[data-list=workflows] tr[data-workflow-id]', (rows) =>
      rows.map((row) => row.getAttribute('data-workflow-id')),
    );
    assert.deepEqual(
      shown,
      listed.items.map((workflow: { id: string }) => workflow.id),
    );
    await page.locator(`tr[data-workflow-id="${workflows.failing.id}"] [data-status-badge]`).waitFor();
    await page.locator('input[name=q]').fill('approval');
    await page.waitForURL(/q=approval/);
    await page.locator('[data-list=workflows] tr[data-workflow-id]').nth(1).waitFor({ state: 'detached' });
    assert.deepEqual(
      await page.$$eval('[data-list=workflows] tr[data-workflow-id]', (rows) =>
        rows.map((row) => row.getAttribute('data-workflow-id')),
      ),
      [workflows.approval.id],
    );
    await browser.screenshot(page, 'workflows');
    assert.deepEqual(errors, []);
  });

  it('draws a workflow’s DAG, diffs two versions, and starts a run from the generated form', async () => {
    const definition = { ...workflows.pipeline.definition, description: 'Every upload, checked' };
    await must(api, 'PUT', `/workflows/${workflows.pipeline.id}`, definition, 200);
    await page.goto(`${serve.url}/workflows/${workflows.pipeline.id}`);
    await page.locator('.react-flow[data-laid-out=true] [data-step-id]').first().waitFor({ timeout: 30_000 });
    assert.deepEqual(
      (
        await page.$$eval('[data-view=graph] [data-step-id]', (nodes) =>
          nodes.map((node) => node.getAttribute('data-step-id')),
        )
      ).sort(),
      definition.steps.map((step: { id: string }) => step.id).sort(),
    );
    const diff = page.locator('[data-view=diff]');
    assert.match(await diff.innerText(), /-\s+"description": "Every uploaded image, in order"/);
    assert.match(await diff.innerText(), /\+\s+"description": "Every upload, checked"/);
    await browser.screenshot(page, 'workflow', { fullPage: true });

    await page.getByRole('button', { name: 'Start run' }).click();
    const form = page.getByRole('form', { name: 'Start form' });
    await form.waitFor();
    await browser.screenshot(page, 'start-form');
    // Required fields are enforced before anything is sent.
    await form.getByRole('button', { name: 'Start run' }).click();
    assert.match(await form.locator('[data-field=folder] .error').innerText(), /required/);
    assert.match(await form.locator('[data-field=images] .error').innerText(), /required/);
    await form.locator('input[name=folder]').fill('uploads/2026');
    await form.locator('textarea[name=images]').fill('["x.png", "y.png"]');
    await form.locator('input[name=strict]').check();
    await form.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/executions\/ex_/);
    const id = new URL(page.url()).pathname.split('/').pop() ?? '';
    const execution = await waitForStatus(api, id, ['completed']);
    assert.deepEqual(execution.input, { folder: 'uploads/2026', images: ['x.png', 'y.png'], strict: true });
    assert.equal(execution.workflow_version, 2);
    assert.deepEqual(errors, []);
  });

  it('creates a workflow from pasted JSON, showing each validation error at its path first', async () => {
    await page.goto(`${serve.url}/workflows`);
    await page.getByRole('button', { name: 'New workflow' }).click();
    const editor = page.locator('textarea[name=definition]');
    const broken = {
      name: 'Pasted',
      steps: [
        { id: 'fetch', type: 'htpp' },
        { id: 'use', type: 'noop', depends_on: ['nothing'] },
      ],
    };
    await editor.fill(JSON.stringify(broken, null, 2));
    await page.locator('[data-validation=invalid]').waitFor();
    const paths = await page.$$eval('[data-error-path]', (items) =>
      items.map((item) => item.getAttribute('data-error-path')),
    );
    const report = await must(api, 'POST', '/workflows/validate', broken, 200);
    assert.deepEqual(paths.sort(), report.errors.map((error: { path: string }) => error.path).sort());
    assert.ok(paths.includes('/steps/0/type'));
    assert.equal(await page.getByRole('button', { name: 'Create workflow' }).isDisabled(), true);
    await browser.screenshot(page, 'create-invalid');
    await editor.fill(JSON.stringify({ name: 'Pasted', steps: [{ id: 'fetch', type: 'noop' }] }, null, 2));
    await page.locator('[data-validation=valid]').waitFor();
    await page.getByRole('button', { name: 'Create workflow' }).click();
    await page.waitForURL(/\/workflows\/wf_/);
    const id = new URL(page.url()).pathname.split('/').pop() ?? '';
    const created = await must(api, 'GET', `/workflows/${id}`, undefined, 200);
    assert.equal(created.name, 'Pasted');
    assert.deepEqual(errors, []);
  });

  it('lists executions as the API does, filters them by status in the URL, and cancels the selected', async () => {
    const slow = await Promise.all(
      [1, 2].map(() => must(api, 'POST', `/workflows/${workflows.slow.id}/executions`, { input: {} }, 202)),
    );
    await page.goto(`${serve.url}/executions?status=running`);
    await page.locator(`tr[data-execution-id="${slow[0].id}"]`).waitFor();
    const running = await must(api, 'GET', '/executions?status=running&limit=50', undefined, 200);
    assert.deepEqual(
      await page.$$eval('[data-list=executions] tr[data-execution-id]', (rows) =>
        rows.map((row) => row.getAttribute('data-execution-id')),
      ),
      running.items.map((execution: { id: string }) => execution.id),
    );
    assert.equal(await page.locator('select[name=status]').inputValue(), 'running');
    await browser.screenshot(page, 'executions');
    for (const execution of slow) await page.getByRole('checkbox', { name: `Select ${execution.id}` }).check();
    await page.getByRole('button', { name: /Cancel selected/ }).click();
    for (const execution of slow) await waitForStatus(api, execution.id, ['cancelled']);
    // The page follows: cancelled executions leave the running filter.
    await page.locator(`tr[data-execution-id="${slow[0].id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual(errors, []);
  });

  it('shows a status change in the list live, and the workers page', async () => {
    await page.goto(`${serve.url}/executions`);
    await page.locator('[data-live=live]').waitFor();
    const started = await must(api, 'POST', `/workflows/${workflows.approval.id}/executions`, { input: {} }, 202);
    await page.locator(`tr[data-execution-id="${started.id}"][data-status=running]`).waitFor({ timeout: 10_000 });
    await must(api, 'POST', `/executions/${started.id}/cancel`, {}, 200);
    await page.locator(`tr[data-execution-id="${started.id}"][data-status=cancelled]`).waitFor({ timeout: 10_000 });
    await page.goto(`${serve.url}/workers`);
    await page.getByRole('heading', { name: 'Workers seen recently' }).waitFor();
    await browser.screenshot(page, 'workers');
    assert.deepEqual(errors, []);
  });

  it('returns to sign-in when the key stops working, keeping the page to come back to', async () => {
    await page.evaluate('sessionStorage.setItem("weft.api_key", "weft_revoked_key")');
    await page.goto(`${serve.url}/executions?status=failed`);
    await page.waitForURL(/\/sign-in\?next=%2Fexecutions%3Fstatus%3Dfailed/);
    assert.equal(await page.evaluate('sessionStorage.getItem("weft.api_key")'), null);
  });
});
