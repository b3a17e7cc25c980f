/**
 * Two SQLite databases as the sides of a sync pipeline, for tests: `people` on side a (`id`,
 * `name`, `status`, `score`, `updated_at`) and `contacts` on side b (`contact_id`, `display_name`,
 * `state`, `score_text`, `modified`), with the edits users make (each moves the row's cursor).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline, type Pipeline } from '../../src/run/pipeline';

export interface SqliteSync {
  dir: string;
  a: Database.Database;
  b: Database.Database;
  file: string;
  pipeline: Pipeline;
  staging: string;
  /** Now, as an ISO time that never repeats: the cursor a user's edit writes. */
  tick(): string;
  close(): void;
}

export function sqliteSync(options: { conflicts?: string; deletes?: string; extra?: string; name?: string; customModule?: string } = {}): SqliteSync {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sync-'));
  // conflicts: custom — the module's source, written beside the pipeline
  if (options.customModule !== undefined) writeFileSync(join(dir, 'resolve.ts'), options.customModule);
  const a = new Database(join(dir, 'a.db'));
  const b = new Database(join(dir, 'b.db'));
  a.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, status TEXT, score INTEGER, updated_at TEXT NOT NULL)`);
  b.exec(`CREATE TABLE contacts (contact_id INTEGER PRIMARY KEY AUTOINCREMENT, display_name TEXT, state TEXT, score_text TEXT, modified TEXT NOT NULL)`);
  for (const db of [a, b]) db.pragma('journal_mode = WAL');
  const file = join(dir, 'sync.yaml');
  writeFileSync(
    file,
    `name: ${options.name ?? 'people-sync'}
sync:
  a: { name: crm, read: { driver: sqlite, url: ${join(dir, 'a.db')}, table: people, key: id, cursor: updated_at, batchSize: 7 }, write: { table: people, touch: updated_at } }
  b: { name: desk, read: { driver: sqlite, url: ${join(dir, 'b.db')}, table: contacts, key: contact_id, cursor: modified, batchSize: 5 }, write: { table: contacts, touch: modified } }
  fields:
    - { a: name, b: display_name }
    - { a: status, b: state, map: { active: A, churned: C } }
    - { a: score, b: score_text, transform: integer_to_string }
  conflicts: ${options.conflicts ?? 'merge'}
${options.customModule !== undefined ? `  custom: ${join(dir, 'resolve.ts')}\n` : ''}  deletes: ${options.deletes ?? 'propagate'}
  batchSize: 4
${options.extra ?? ''}`,
  );
  let clock = 0;
  return {
    dir,
    a,
    b,
    file,
    pipeline: loadPipeline(file),
    staging: `sqlite:${join(dir, 'staging.db')}`,
    // the wall clock, as users' applications write it (Sluice's own writes use it too), never repeating
    tick: () => new Date((clock = Math.max(clock + 1, Date.now()))).toISOString(),
    close: () => {
      a.close();
      b.close();
    },
  };
}

export interface Person {
  id: number;
  name: string | null;
  status: string | null;
  score: number | null;
}

export interface Contact {
  contact_id: number;
  display_name: string | null;
  state: string | null;
  score_text: string | null;
}

export const people = (s: SqliteSync) => s.a.prepare('SELECT id, name, status, score FROM people ORDER BY id').all() as Person[];
export const contacts = (s: SqliteSync) => s.b.prepare('SELECT contact_id, display_name, state, score_text FROM contacts ORDER BY contact_id').all() as Contact[];
