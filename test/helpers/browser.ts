import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './processes.js';

/**
 * Headless Chromium for the UI's end-to-end tests: Debian's `/usr/bin/chromium` (`.ci/run`
 * installs it) driven by playwright-core, with the flags this machine needs (no sandbox as root,
 * no GPU, no background calls to the closed network). Every page records its uncaught errors and
 * failed console errors so a test can assert there were none. Screenshots go to
 * `WEFT_SCREENSHOT_DIR` (default `test-results/screenshots`), which each file prints.
 */

/** Where Chromium is looked for (`WEFT_CHROMIUM` overrides). */
export const CHROMIUM_PATH = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The folder screenshots are saved in; created and printed once per file. */
export const SCREENSHOT_DIR = path.resolve(ROOT, process.env.WEFT_SCREENSHOT_DIR ?? 'test-results/screenshots');

let announced = false;

/**
 * Why the browser tests cannot run here, or undefined when they can. Under CI=true a missing
 * Chromium fails the suite instead (the tests are not optional there).
 */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  const reason = `${CHROMIUM_PATH} is missing (apt-get install -y chromium)`;
  if (process.env.CI === 'true') throw new Error(`the UI tests need Chromium: ${reason}`);
  return reason;
}

/** A browser with pages that record their errors. */
export interface TestBrowser {
  browser: Browser;
  /** A new page (own context) at 1280×800 in the given colour scheme; `errors` collects what it threw. */
  page(options?: {
    colorScheme?: 'light' | 'dark';
  }): Promise<{ page: Page; context: BrowserContext; errors: string[] }>;
  /** Saves a screenshot of `page` as `<name>.png` and returns its path. */
  screenshot(page: Page, name: string, options?: { fullPage?: boolean }): Promise<string>;
  close(): Promise<void>;
}

/** Launches Chromium. */
export async function launchBrowser(prefix: string): Promise<TestBrowser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  if (!announced) {
    announced = true;
    console.log(`UI screenshots (${prefix}): ${SCREENSHOT_DIR}`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: FLAGS, timeout: 60_000 });
  return {
    browser,
    async page(options = {}) {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        colorScheme: options.colorScheme ?? 'light',
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      page.on('console', (message) => {
        // A 4xx the UI asked for on purpose (a 404 it shows) logs a console error too; those are
        // checked by the tests that cause them, so only script errors count here.
        if (message.type() === 'error' && !/Failed to load resource/.test(message.text()))
          errors.push(`console: ${message.text()}`);
      });
      return { page, context, errors };
    },
    async screenshot(page, name, options = {}) {
      const file = path.join(SCREENSHOT_DIR, `${prefix}-${name}.png`);
      await page.screenshot({ path: file, fullPage: options.fullPage ?? false });
      return file;
    },
    close: () => browser.close(),
  };
}

/** Signs in through the sign-in page and waits for the workflows list. */
export async function signIn(page: Page, baseUrl: string, key: string, path = '/'): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await page.locator('input[name=api_key]').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('main').waitFor();
}
