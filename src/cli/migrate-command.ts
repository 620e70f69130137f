import type { WeftConfig } from '../config.js';
import { openStore } from '../store/store.js';

/** Applies pending migrations and returns their names. */
export async function runMigrations(config: WeftConfig, log: (error: Error) => void): Promise<string[]> {
  const store = openStore(config, log);
  try {
    return await store.migrate();
  } finally {
    await store.close();
  }
}
