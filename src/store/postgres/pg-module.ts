import { createRequire } from 'node:module';
import type PgModule from 'pg';

/**
 * node-postgres, loaded when a PostgreSQL database is first opened. Loading it took about 0.1 s
 * of every `weft serve` start, also on SQLite, which never uses it.
 */
let loaded: typeof PgModule | undefined;

/** The `pg` module, with int8 (counts, sums) read as numbers: Weft's counters stay far below 2^53. */
export function loadPg(): typeof PgModule {
  if (!loaded) {
    loaded = createRequire(import.meta.url)('pg') as typeof PgModule;
    loaded.types.setTypeParser(20, (value) => Number(value));
  }
  return loaded;
}
