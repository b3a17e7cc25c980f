import { resolve } from 'node:path';
import { SluiceError } from '../core/errors';
import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { StagingStore } from './store';

/** The embedded default: an SQLite file under `.sluice/` in the working directory. */
export const DEFAULT_STAGING_URL = 'sqlite:.sluice/staging.db';

/** `postgres://…` → PostgreSQL; `sqlite:path`, `file:path` or a bare path → an SQLite file. */
export function openStore(url: string): StagingStore {
  if (/^postgres(ql)?:\/\//.test(url)) return PostgresStore.open(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^(sqlite|file):/.test(url)) {
    throw new SluiceError('SLUICE_STAGING_CONNECT', `unsupported staging store URL ${url.replace(/\/\/[^@/]*@/, '//***@')}: use postgres://… or sqlite:path`);
  }
  return SqliteStore.open(resolve(url.replace(/^(sqlite|file):(\/\/)?/, '')));
}
