import fs from 'node:fs/promises';
import path from 'node:path';
import { WeftError } from '../errors.js';
import { ensurePrivateDirectorySync } from '../files/private-files.js';
import type { Store } from '../store/store.js';
import type { Workspace } from '../types.js';
import { apiKeyPrefix, generateApiKey, hashApiKey, MIN_CHOSEN_KEY_LENGTH } from './api-key-secrets.js';

/** Slug of the workspace created on first start. */
export const DEFAULT_WORKSPACE_SLUG = 'default';

/** File in the data directory holding the generated owner key. */
export const ADMIN_KEY_FILE = 'admin-key';

/** What bootstrap did. */
export interface BootstrapResult {
  /** The default workspace, when this call created it. */
  createdWorkspace: Workspace | undefined;
  /** The generated raw owner key, when one was generated (shown once). */
  generatedKey: string | undefined;
  /** Where the generated key was written. */
  keyFile: string | undefined;
}

/**
 * On an empty database, creates the default workspace and the instance's `owner` key (the
 * bootstrap key): `WEFT_ADMIN_KEY` when set, otherwise a generated one written to
 * `<dataDir>/admin-key` with mode 0600 (the folder 0700). On a database that has workspaces, a set
 * `WEFT_ADMIN_KEY` is added to the default workspace if unknown, and made an owner if it is a key
 * of another role, so an operator can always regain access. Safe when several processes start at
 * once.
 */
export async function bootstrapWorkspace(
  store: Store,
  options: { dataDir: string; adminKey: string | undefined },
): Promise<BootstrapResult> {
  if (options.adminKey !== undefined && options.adminKey.length < MIN_CHOSEN_KEY_LENGTH) {
    throw new WeftError(
      'CONFIG_INVALID',
      `WEFT_ADMIN_KEY must be at least ${MIN_CHOSEN_KEY_LENGTH} characters long (it has ${options.adminKey.length}); ` +
        'unset it to have a key generated',
    );
  }
  const result = await store.transaction(async (tx) => {
    const created =
      (await tx.workspaces.count()) === 0
        ? await tx.workspaces.createIfSlugFree({ slug: DEFAULT_WORKSPACE_SLUG, name: 'Default' })
        : undefined;
    const workspace = created ?? (await tx.workspaces.getBySlug(DEFAULT_WORKSPACE_SLUG));
    if (!workspace) return { created, generated: undefined };
    const raw = options.adminKey ?? (created ? generateApiKey() : undefined);
    if (raw === undefined) return { created, generated: undefined };
    const existing = await tx.apiKeys.findByHash(hashApiKey(raw));
    if (existing) {
      if (existing.key.role !== 'owner') await tx.apiKeys.setRole(existing.key.id, 'owner');
      return { created, generated: undefined };
    }
    await tx.apiKeys.create({
      workspaceId: workspace.id,
      name: options.adminKey ? 'WEFT_ADMIN_KEY' : 'bootstrap owner',
      role: 'owner',
      prefix: apiKeyPrefix(raw),
      keyHash: hashApiKey(raw),
    });
    return { created, generated: options.adminKey ? undefined : raw };
  });
  let keyFile: string | undefined;
  if (result.generated) {
    keyFile = path.join(options.dataDir, ADMIN_KEY_FILE);
    ensurePrivateDirectorySync(options.dataDir);
    await fs.writeFile(keyFile, `${result.generated}\n`, { mode: 0o600 });
    await fs.chmod(keyFile, 0o600);
  }
  return { createdWorkspace: result.created, generatedKey: result.generated, keyFile };
}
