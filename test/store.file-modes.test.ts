import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { ensurePrivateDirectorySync } from '../src/files/private-files.js';
import { openStore } from '../src/store/store.js';

/**
 * File modes (issue 9, item 17): the SQLite database holds webhook signing secrets, so the data
 * folder is 0700 and the database with its `-wal` and `-shm` files 0600, under the usual umask
 * 022 that would otherwise make them world-readable. SQLite only: PostgreSQL keeps no files here.
 */

const mode = (file: string) => statSync(file).mode & 0o7777;

describe('private data files (sqlite)', () => {
  let root: string;
  let umask: number;
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'weft-modes-'));
    umask = process.umask(0o022);
  });
  after(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });

  const open = (file: string) =>
    openStore({ ...loadConfig({}), databaseUrl: file, sqliteSynchronous: 'NORMAL' }, () => undefined);

  it('creates the folder 0700 and the database, -wal and -shm 0600', async () => {
    const file = path.join(root, 'fresh', 'data', 'weft.db');
    const store = open(file);
    try {
      await store.migrate();
      await store.workspaces.createIfSlugFree({ slug: 'default', name: 'Default' });
      assert.equal(mode(path.dirname(file)), 0o700);
      assert.equal(mode(path.join(root, 'fresh')), 0o700);
      for (const suffix of ['', '-wal', '-shm']) {
        assert.ok(existsSync(`${file}${suffix}`), `weft.db${suffix} exists while the store is open`);
        assert.equal(mode(`${file}${suffix}`), 0o600, `weft.db${suffix}`);
      }
    } finally {
      await store.close();
    }
  });

  it('tightens the files of an older version (0644) when it opens them', async () => {
    const folder = path.join(root, 'older');
    mkdirSync(folder);
    const file = path.join(folder, 'weft.db');
    const first = open(file);
    await first.migrate();
    await first.close();
    for (const suffix of ['', '-wal', '-shm']) {
      if (!existsSync(`${file}${suffix}`)) writeFileSync(`${file}${suffix}`, '');
      chmodSync(`${file}${suffix}`, 0o644);
    }
    const store = open(file);
    try {
      await store.migrate();
      for (const suffix of ['', '-wal', '-shm']) assert.equal(mode(`${file}${suffix}`), 0o600, `weft.db${suffix}`);
    } finally {
      await store.close();
    }
  });

  it('makes an existing data folder 0700, but leaves a shared sticky folder such as /tmp alone', () => {
    const data = path.join(root, 'data-0755');
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    ensurePrivateDirectorySync(data);
    assert.equal(mode(data), 0o700);
    const shared = path.join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    ensurePrivateDirectorySync(shared);
    assert.equal(mode(shared), 0o1777);
  });
});
