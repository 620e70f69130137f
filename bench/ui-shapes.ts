import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { startTestServer } from '../test/helpers/api-server.js';
import type { Backend } from '../test/helpers/backends.js';
import { browserUnavailable, launchBrowser, signIn } from '../test/helpers/browser.js';
import { waitForExecution } from '../test/helpers/http-fixtures.js';
import { ROOT } from '../test/helpers/processes.js';
import { fanOut } from '../test/helpers/ui-scenarios.js';
import { analyze, EXECUTIONS, seedListHistory } from './list-shapes.js';

/**
 * UI shapes (issue 12), in Debian's Chromium against an in-process server on each backend:
 * - the bundle: bytes and gzip bytes of what `dist/web` serves (the app, its styles, the ELK worker);
 * - the 500-step execution: from navigation to every node drawn, and ELK's own layout time (the
 *   page reports it as `data-layout-ms`), first with a cold page and then warm;
 * - the executions list over 100,000 executions: from navigation to the first page's 50 rows drawn.
 * `npm run bench -- ui`. Skipped with a line when Chromium is missing.
 */

/** One measured UI shape. */
export interface UiShapeResult {
  shape: string;
  count: number;
  totalMs: number;
  detail: string;
}

const REPEATS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Sizes of the built app's assets. */
export function bundleSizes(): UiShapeResult {
  const assets = path.join(ROOT, 'dist', 'web', 'assets');
  const files = readdirSync(assets).filter((name) => /\.(js|css)$/.test(name));
  const parts = files.map((name) => {
    const bytes = readFileSync(path.join(assets, name));
    return { name, raw: bytes.length, gzip: gzipSync(bytes).length };
  });
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const app = parts.filter((part) => !part.name.startsWith('elk-worker'));
  const worker = parts.filter((part) => part.name.startsWith('elk-worker'));
  const sum = (list: typeof parts, key: 'raw' | 'gzip') => list.reduce((total, part) => total + part[key], 0);
  return {
    shape: 'bundle (app JS + CSS; ELK worker)',
    count: 1,
    totalMs: 0,
    detail: `app ${kib(sum(app, 'raw'))} (gzip ${kib(sum(app, 'gzip'))}); ELK worker ${kib(sum(worker, 'raw'))} (gzip ${kib(sum(worker, 'gzip'))}), loaded in a worker`,
  };
}

/** The UI shapes on one backend. */
export async function benchUiShapes(backend: Backend): Promise<UiShapeResult[]> {
  const unavailable = browserUnavailable();
  if (unavailable) {
    process.stderr.write(`  ui shapes skipped: ${unavailable}\n`);
    return [];
  }
  const server = await startTestServer(backend);
  const browser = await launchBrowser(`bench-${backend}`);
  try {
    const results: UiShapeResult[] = [];
    // The 500-step execution.
    const workflow = await server.request('POST', '/workflows', { body: fanOut(500) });
    const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: { input: {} } });
    await waitForExecution(server, started.body.id, ['completed'], 60_000);
    const drawn: number[] = [];
    const layouts: number[] = [];
    for (let index = 0; index < REPEATS; index += 1) {
      // A fresh page each time: the first repeat pays for starting the ELK worker like a first visit.
      const { page, context } = await browser.page();
      await signIn(page, server.url, server.adminKey);
      const from = performance.now();
      await page.goto(`${server.url}/executions/${started.body.id}`);
      await page.locator('[data-view=graph][data-layout-ms] [data-step-id=join]').waitFor({ timeout: 60_000 });
      drawn.push(performance.now() - from);
      layouts.push(Number(await page.locator('[data-view=graph]').getAttribute('data-layout-ms')));
      await context.close();
    }
    results.push({
      shape: '500-step execution: navigation to every node drawn',
      count: REPEATS,
      totalMs: drawn.reduce((sum, ms) => sum + ms, 0),
      detail: `median ${median(drawn).toFixed(0)} ms (min ${Math.min(...drawn).toFixed(0)}, max ${Math.max(...drawn).toFixed(0)}); ELK layout median ${median(layouts).toFixed(0)} ms`,
    });

    // The executions list over 100,000 executions.
    const workspaceId = (await server.request('GET', '/workspaces')).body.items[0].id as string;
    await seedListHistory(server, workspaceId);
    await analyze(server);
    const { page, context } = await browser.page();
    await signIn(page, server.url, server.adminKey);
    const firstPage: number[] = [];
    for (let index = 0; index < REPEATS; index += 1) {
      await page.goto('about:blank');
      const from = performance.now();
      await page.goto(`${server.url}/executions`);
      await page.locator('[data-list=executions] tr[data-execution-id]').nth(49).waitFor({ timeout: 30_000 });
      firstPage.push(performance.now() - from);
    }
    await context.close();
    results.push({
      shape: `executions list over ${EXECUTIONS.toLocaleString('en')}: navigation to the first 50 rows`,
      count: REPEATS,
      totalMs: firstPage.reduce((sum, ms) => sum + ms, 0),
      detail: `median ${median(firstPage).toFixed(0)} ms (min ${Math.min(...firstPage).toFixed(0)}, max ${Math.max(...firstPage).toFixed(0)})`,
    });
    return results;
  } finally {
    await browser.close();
    await server.close();
  }
}
