import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { msg } from '../core/i18n';
import { SluiceError } from '../core/errors';
import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { StagingStore } from './store';

/** The embedded default: an SQLite file under `.sluice/` in the working directory. */
export const DEFAULT_STAGING_URL = 'sqlite:.sluice/staging.db';

type StoreLocation = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

/** `postgres://…` → PostgreSQL; `sqlite:path`, `file:path` or a bare path → an SQLite file. */
export function parseStagingUrl(url: string): StoreLocation {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^(sqlite|file):/.test(url)) {
    throw new SluiceError('SLUICE_STAGING_URL', msg('err.stage.open.1', { value: url.replace(/\/\/[^@/]*@/, '//***@') }));
  }
  return { kind: 'sqlite', file: resolve(url.replace(/^(sqlite|file):(\/\/)?/, '')) };
}

export function openStore(url: string): StagingStore {
  const at = parseStagingUrl(url);
  return at.kind === 'postgres' ? PostgresStore.open(at.url) : SqliteStore.open(at.file);
}

/** The store, if there is one to read: commands that only look (status, dry runs) must not create an SQLite file. */
export function openExistingStore(url: string): StagingStore | undefined {
  const at = parseStagingUrl(url);
  return at.kind === 'sqlite' && !existsSync(at.file) ? undefined : openStore(url);
}
