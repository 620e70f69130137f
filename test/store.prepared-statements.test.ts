import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { MAX_NAMED_STATEMENTS, PreparedStatements } from '../src/store/postgres/prepared-statements.js';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';

describe('prepared statement names', () => {
  it('names a statement the second time it runs, never transaction control or DDL', () => {
    const statements = new PreparedStatements();
    const text = 'select * from executions where id = $1';
    assert.equal(statements.nameOf(text, ['a']), undefined);
    const name = statements.nameOf(text, ['b']);
    assert.match(name ?? '', /^weft0_[0-9a-f]{20}$/);
    assert.equal(statements.nameOf(text, ['c']), name);
    for (const other of ['begin', 'commit', 'create table t (a int)', 'alter table t add column b int']) {
      statements.nameOf(other, [1]);
      assert.equal(statements.nameOf(other, [1]), undefined, other);
    }
    assert.equal(statements.nameOf('select 1', []), undefined, 'no parameters, nothing to gain');
  });

  it('renames everything after a schema change and stops naming past its bound', () => {
    const statements = new PreparedStatements();
    const text = 'update executions set status = $1';
    statements.nameOf(text, [1]);
    const before = statements.nameOf(text, [1]);
    statements.schemaChanged();
    assert.equal(statements.nameOf(text, [1]), undefined, 'seen again from scratch');
    const after = statements.nameOf(text, [1]);
    assert.ok(after?.startsWith('weft1_'));
    assert.notEqual(after, before);
    for (let index = 0; index < MAX_NAMED_STATEMENTS + 10; index += 1) {
      statements.nameOf(`select $1 as a${index}`, [index]);
      statements.nameOf(`select $1 as a${index}`, [index]);
    }
    assert.equal(statements.nameOf('select $1 as late', [1]), undefined);
    assert.equal(statements.nameOf('select $1 as late', [1]), undefined, 'past the bound it runs unnamed');
  });
});

for (const backend of testBackends()) {
  describe(`prepared statements on the database (${backend})`, () => {
    it(
      'keeps working when another process changes a table a prepared select read',
      postgresOnly(backend, 'prepared statements are PostgreSQL only'),
      async () => {
        const database = await createTestDatabase(backend);
        const store = database.open();
        const admin = new pg.Client({ connectionString: database.config.databaseUrl });
        await admin.connect();
        try {
          await store.migrate();
          const workspace = await store.workspaces.create({ slug: 'probe', name: 'Probe' });
          // Run often enough to be prepared on the store's connections.
          for (let index = 0; index < 5; index += 1)
            assert.equal((await store.workspaces.get(workspace.id))?.slug, 'probe');
          // What a migration run by another process does: the prepared `select *` now has another row type.
          await admin.query('alter table workspaces add column probe integer');
          let failures = 0;
          for (let index = 0; index < 5; index += 1) {
            try {
              assert.equal((await store.workspaces.get(workspace.id))?.slug, 'probe');
            } catch (error) {
              // At most the first statement that meets the change fails; then everything is prepared again.
              assert.equal((error as { code?: string }).code, '0A000');
              failures += 1;
            }
          }
          assert.ok(failures <= 1, `${failures} failures`);
          // A migration in this process renames the statements before anything meets the change.
          await admin.query('alter table workspaces drop column probe');
          await store.migrate();
          for (let index = 0; index < 3; index += 1)
            assert.equal((await store.workspaces.get(workspace.id))?.slug, 'probe');
        } finally {
          await admin.end();
          await store.close();
          await database.drop();
        }
      },
    );
  });
}
