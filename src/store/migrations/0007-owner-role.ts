import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * The `owner` role (issue 9): until now every `admin` key could act on every workspace. The
 * bootstrap key (the generated `bootstrap admin` or the operator's `WEFT_ADMIN_KEY`, both in the
 * `default` workspace) becomes `owner`, the only role that may; other admin keys stay `admin`,
 * confined to their workspace. `role` is plain text on both backends (no CHECK or enum to widen).
 * Stored key prefixes are cut to 8 characters: 12 showed most of a short chosen key. Never edit:
 * add a migration.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await sql`update api_keys set role = 'owner'
    where role = 'admin'
      and name in ('bootstrap admin', 'WEFT_ADMIN_KEY')
      and workspace_id in (select id from workspaces where slug = 'default')`.execute(db);
  await sql`update api_keys set prefix = substr(prefix, 1, 8) where length(prefix) > 8`.execute(db);
}
