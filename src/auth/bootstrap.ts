import fs from 'node:fs/promises';
import path from 'node:path';
import { WeftError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Workspace } from '../types.js';
import { apiKeyPrefix, generateApiKey, hashApiKey } from './api-key-secrets.js';

/** Slug of the workspace created on first start. */
export const DEFAULT_WORKSPACE_SLUG = 'default';

/** File in the data directory holding the generated admin key. */
export const ADMIN_KEY_FILE = 'admin-key';

/** What bootstrap did. */
export interface BootstrapResult {
  /** The default workspace, when this call created it. */
  createdWorkspace: Workspace | undefined;
  /** The generated raw admin key, when one was generated (shown once). */
  generatedKey: string | undefined;
  /** Where the generated key was written. */
  keyFile: string | undefined;
}

/**
 * On an empty database, creates the default workspace and an admin key: `WEFT_ADMIN_KEY` when
 * set, otherwise a generated one written to `<dataDir>/admin-key` with mode 0600. On a database
 * that has workspaces, a set `WEFT_ADMIN_KEY` is added to the default workspace if unknown, so an
 * operator can always regain access. Safe when several processes start at once.
 */
export async function bootstrapWorkspace(
  store: Store,
  options: { dataDir: string; adminKey: string | undefined },
): Promise<BootstrapResult> {
  if (options.adminKey !== undefined && options.adminKey.length < 16) {
    throw new WeftError('CONFIG_INVALID', 'WEFT_ADMIN_KEY must be at least 16 characters long');
  }
  const result = await store.transaction(async (tx) => {
    const created =
      (await tx.workspaces.count()) === 0
        ? await tx.workspaces.createIfSlugFree({ slug: DEFAULT_WORKSPACE_SLUG, name: 'Default' })
        : undefined;
    const workspace = created ?? (await tx.workspaces.getBySlug(DEFAULT_WORKSPACE_SLUG));
    if (!workspace) return { created, generated: undefined };
    const raw = options.adminKey ?? (created ? generateApiKey() : undefined);
    if (raw === undefined || (await tx.apiKeys.findByHash(hashApiKey(raw)))) return { created, generated: undefined };
    await tx.apiKeys.create({
      workspaceId: workspace.id,
      name: options.adminKey ? 'WEFT_ADMIN_KEY' : 'bootstrap admin',
      role: 'admin',
      prefix: apiKeyPrefix(raw),
      keyHash: hashApiKey(raw),
    });
    return { created, generated: options.adminKey ? undefined : raw };
  });
  let keyFile: string | undefined;
  if (result.generated) {
    keyFile = path.join(options.dataDir, ADMIN_KEY_FILE);
    await fs.mkdir(options.dataDir, { recursive: true });
    await fs.writeFile(keyFile, `${result.generated}\n`, { mode: 0o600 });
    await fs.chmod(keyFile, 0o600);
  }
  return { createdWorkspace: result.created, generatedKey: result.generated, keyFile };
}
