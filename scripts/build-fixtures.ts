/**
 * Builds the example pipelines' SQLite sources (under `fixtures/`) from committed SQL scripts, so
 * they have their embedded sources without binaries in git. Runs as part of `npm run build` (and so `npm ci`);
 * skipped when the database is already newer than the script.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const root = join(__dirname, '..', '..');

/** The SQL scripts and the SQLite files built from them. */
const DATABASES = [
  { script: join(root, 'fixtures', 'chinook', 'sqlite.sql'), target: join(root, 'fixtures', 'chinook', 'chinook.sqlite') },
  { script: join(root, 'fixtures', 'support', 'tickets.sql'), target: join(root, 'fixtures', 'support', 'tickets.sqlite') },
];

for (const { script, target } of DATABASES) {
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(script).mtimeMs) continue;
  const tmp = `${target}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  db.exec(readFileSync(script, 'utf8'));
  db.close();
  renameSync(tmp, target); // whole or absent, like everything Sluice writes
}
