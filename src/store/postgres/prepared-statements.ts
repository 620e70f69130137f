import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * Named (server-side prepared) statements for the queries Weft repeats. PostgreSQL parses and
 * plans an unnamed statement on every execution; for the short statements of a chain step that
 * was half of their time (measured: 3.8 ms of database time per step unnamed, 2.2 ms named).
 * Kysely sends every query unnamed, so this wraps the pool it is given: a statement text seen a
 * second time gets a name derived from its text, and node-postgres prepares it once per
 * connection and reuses it.
 *
 * Bounds: at most `MAX_NAMED_STATEMENTS` texts are named per schema generation (queries whose text
 * varies with their number of values would otherwise prepare without end on every connection);
 * the rest run unnamed as before. Transaction control and DDL are never named. A migration bumps
 * the generation (`schemaChanged`), so no statement prepared against an older schema is used
 * again: PostgreSQL refuses to run a `select *` whose cached plan's result type changed.
 *
 * A connection pooler in transaction mode (PgBouncer before 1.21) does not keep prepared
 * statements per client; set WEFT_PG_PREPARED_STATEMENTS=false behind one (docs/configuration.md).
 */

/** Distinct statement texts named per schema generation; the rest run unnamed. */
export const MAX_NAMED_STATEMENTS = 2000;

/** Statements worth a name: queries with parameters, not transaction control or DDL. */
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;

/** Names statement texts for one pool. */
export class PreparedStatements {
  #generation = 0;
  /** Text → its name, or the number of times it ran unnamed (named on the second). */
  #texts = new Map<string, string | number>();
  #named = 0;

  /** The name to run `text` under, or undefined to run it unnamed. */
  nameOf(text: string, parameters: readonly unknown[]): string | undefined {
    if (parameters.length === 0 || !PREPARABLE.test(text)) return undefined;
    const known = this.#texts.get(text);
    if (typeof known === 'string') return known;
    if (known === undefined) {
      if (this.#texts.size < MAX_NAMED_STATEMENTS * 4) this.#texts.set(text, 1);
      return undefined;
    }
    if (this.#named >= MAX_NAMED_STATEMENTS) return undefined;
    const name = `weft${this.#generation}_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    this.#texts.set(text, name);
    this.#named += 1;
    return name;
  }

  /** The schema changed (a migration ran): statements are prepared again under new names. */
  schemaChanged(): void {
    this.#generation += 1;
    this.#texts = new Map();
    this.#named = 0;
  }
}

/** Error code of "cached plan must not change result type": the schema changed under a statement. */
const CACHED_PLAN_CHANGED = '0A000';

/** A pool for Kysely whose clients run repeated statements under names (see PreparedStatements). */
export function preparingPool(pool: pg.Pool, statements: PreparedStatements): PostgresPool {
  const wrap = (client: pg.PoolClient): PostgresPoolClient => ({
    // biome-ignore lint/suspicious/noExplicitAny: Kysely's overloads (text or cursor) pass through to node-postgres as they are.
    query: ((textOrCursor: any, parameters?: readonly unknown[]) => {
      if (typeof textOrCursor !== 'string') return client.query(textOrCursor);
      // Kysely hands over a fresh array per query: no copy needed.
      const values = (parameters ?? []) as unknown[];
      const name = statements.nameOf(textOrCursor, values);
      const result = name ? client.query({ name, text: textOrCursor, values }) : client.query(textOrCursor, values);
      return result.catch((error: { code?: string }) => {
        // Another process migrated the schema: prepare everything again from the next query on.
        if (name && error?.code === CACHED_PLAN_CHANGED) statements.schemaChanged();
        throw error;
      });
      // biome-ignore lint/suspicious/noExplicitAny: see above.
    }) as any,
    release: () => client.release(),
  });
  // One wrapper per connection: Kysely keeps its connection state by client object.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
