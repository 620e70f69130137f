import { nowIso } from '../ids.js';
import type { SecretMetadata } from '../store/repositories/secret-repository.js';
import type { Store } from '../store/store.js';
import { NonRetryableError } from '../tasks/task-outcomes.js';
import { openSecret, sealSecret } from './secret-cipher.js';

/**
 * The one place secret values are written and read back in clear. With `WEFT_SECRETS_KEY` set,
 * values are written encrypted (secret-cipher.ts); without it they are written as they are (the
 * server warns at start, docs/secrets.md says so loudly). Either kind is read back with the key
 * this process has: a plain row always, an encrypted row only under the key it was written with.
 * Methods take the store to use, so they work inside a transaction too.
 */
export class SecretVault {
  constructor(
    /** The 32-byte key of WEFT_SECRETS_KEY, if set. */
    private readonly key: Buffer | undefined,
  ) {}

  /** True when values written now are encrypted. */
  get encrypts(): boolean {
    return this.key !== undefined;
  }

  /** Creates or replaces a secret's value (encrypted when a key is set). */
  put(
    store: Store,
    workspaceId: string,
    name: string,
    value: string,
  ): Promise<{ secret: SecretMetadata; created: boolean }> {
    const stored = this.key
      ? { name, encrypted: 1, ...sealSecret(this.key, workspaceId, name, value) }
      : { name, encrypted: 0, value, iv: null, tag: null };
    return store.secrets.put(workspaceId, stored, nowIso());
  }

  /**
   * The values of the named secrets of a workspace, for one attempt. A name the workspace has no
   * secret of fails with SECRET_MISSING, one this process cannot decrypt with SECRET_UNREADABLE
   * (both without retry: trying again changes nothing until someone acts). With `skipUnreadable`,
   * both are left out instead (redacting what a worker answered needs what can be had).
   */
  async resolve(
    store: Store,
    workspaceId: string,
    names: readonly string[],
    options: { skipUnreadable?: boolean } = {},
  ): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    if (names.length === 0) return values;
    const rows = new Map((await store.secrets.values(workspaceId, names)).map((row) => [row.name, row]));
    for (const name of names) {
      const row = rows.get(name);
      try {
        if (!row) {
          throw new NonRetryableError(
            `secret '${name}' is not set in this workspace (PUT /api/v1/secrets/${name} sets it)`,
            { code: 'SECRET_MISSING' },
          );
        }
        values.set(name, this.#reveal(workspaceId, row));
      } catch (error) {
        if (!options.skipUnreadable) throw error;
      }
    }
    return values;
  }

  #reveal(workspaceId: string, row: Awaited<ReturnType<Store['secrets']['values']>>[number]): string {
    if (Number(row.encrypted) !== 1) return row.value;
    if (!this.key) {
      throw new NonRetryableError(
        `secret '${row.name}' is stored encrypted and this process has no WEFT_SECRETS_KEY to read it`,
        { code: 'SECRET_UNREADABLE' },
      );
    }
    try {
      return openSecret(this.key, workspaceId, row.name, { value: row.value, iv: row.iv ?? '', tag: row.tag ?? '' });
    } catch (error) {
      throw new NonRetryableError(
        `secret '${row.name}' cannot be decrypted with this process's WEFT_SECRETS_KEY (was it written under another key?)`,
        { code: 'SECRET_UNREADABLE', cause: error },
      );
    }
  }
}
