import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import semver from 'semver';
import { ROOT } from './helpers/processes.js';

/**
 * `npm install` on Node 20 must not warn that a package needs a newer Node (EBADENGINE): every
 * package the lock file installs accepts the oldest Node that `engines` in package.json allows.
 */

const root = ROOT;
const readJson = (file: string) => JSON.parse(readFileSync(path.join(root, file), 'utf8'));

describe('the Node versions of installed packages', () => {
  it("accept the oldest Node of the project's engines", () => {
    const range = (readJson('package.json') as { engines: { node: string } }).engines.node;
    const oldest = semver.minVersion(range);
    assert.ok(oldest, `engines.node ${range} has a lowest version`);
    const lock = readJson('package-lock.json') as {
      packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }>;
    };
    const refused: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!where || !node || entry.optional) continue;
      if (!semver.satisfies(oldest, node)) refused.push(`${where.replace(/^.*node_modules\//, '')} (node ${node})`);
    }
    assert.deepEqual(refused, [], `packages that need a newer Node than ${oldest.version}`);
  });
});
