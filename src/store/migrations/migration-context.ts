/** What a migration may depend on: the few type names that differ between backends. */
export interface MigrationContext {
  /** SQL type of id columns (`text`, or `text collate "C"` on PostgreSQL for byte-wise order). */
  idType: string;
  /** SQL type of 64-bit integers (epoch milliseconds). */
  bigintType: string;
  /** The backend, for what only one of them has (PostgreSQL triggers that NOTIFY). */
  backend: 'sqlite' | 'postgres';
}
