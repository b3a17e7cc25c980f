/**
 * Builds `fixtures/chinook/chinook.sqlite` from the committed SQL script, so the example pipeline has
 * its embedded source without a binary in git. Runs as part of `npm run build` (and so `npm ci`);
 * skipped when the database is already newer than the script.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const root = join(__dirname, '..', '..');
const script = join(root, 'fixtures', 'chinook', 'sqlite.sql');
const target = join(root, 'fixtures', 'chinook', 'chinook.sqlite');

if (!existsSync(target) || statSync(target).mtimeMs < statSync(script).mtimeMs) {
  const tmp = `${target}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  db.exec(readFileSync(script, 'utf8'));
  db.close();
  renameSync(tmp, target); // whole or absent, like everything Sluice writes
}
