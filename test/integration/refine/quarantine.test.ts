// Held records: `sluice quarantine list` shows every reason, `status` counts them, `retry` runs the
// chain again (what now passes is exported by the next run), `release` exports a record as staged.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline } from '../../../src/run/pipeline';
import { listHeld, releaseHeld, retryHeld } from '../../../src/run/quarantine';
import { runPipeline } from '../../../src/run/run';
import { BIN, readRecords } from '../../helpers/cli-sluice';

let dir: string;
let staging: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-quarantine-'));
  staging = `sqlite:${join(dir, 'staging.db')}`;
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, amount TEXT)`);
  db.prepare(`INSERT INTO t VALUES (1, 'a@b.c', '5'), (2, 'nope', '-1'), (3, 'c@d.e', 'x')`).run();
  db.close();
  file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: q
sources:
  - name: t
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: t, key: id }
tenant: { value: acme }
refine:
  - rules:
      - coerce: { amount: number }
      - validate: { email: { pattern: "@" }, amount: { min: 0 } }
export:
  - format: jsonl
    path: ${join(dir, 'out')}
staging: ${staging}
`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ids = (rows: Record<string, unknown>[]) => rows.map((r) => r.id);

test('list, status, retry and release', async () => {
  const pipeline = loadPipeline(file, {});
  const first = await runPipeline(pipeline, { env: {} });
  expect(ids(readRecords(join(first.exports[0]!.dir, 't.jsonl')))).toEqual([1]);

  const cli = spawnSync(process.execPath, [BIN, 'quarantine', 'list', file, '--json'], { encoding: 'utf8' });
  expect(cli.status).toBe(0);
  const listed = JSON.parse(cli.stdout) as { key: string; status: string; failures: unknown[] }[];
  expect(listed.map((h) => [h.key, h.status])).toEqual([
    ['2', 'quarantined'],
    ['3', 'quarantined'],
  ]);
  expect((listed[0] as unknown as { detail: { failures: { field: string }[] } }).detail.failures.map((f) => f.field)).toEqual(['email', 'amount']);

  const status = spawnSync(process.execPath, [BIN, 'status', file, '--json'], { encoding: 'utf8' });
  expect(JSON.parse(status.stdout).records).toEqual([{ tenant: 'acme', source: 't', records: 3, deleted: 0, quarantined: 2, failed: 0 }]);

  // retry with the same rules changes nothing; release exports record 2 as it was staged
  expect((await retryHeld(pipeline, { limit: 100 })).map((o) => o.status)).toEqual(['quarantined', 'quarantined']);
  expect(await releaseHeld(pipeline, 't', ['2', '99'])).toBe(1);
  const second = await runPipeline(pipeline, { env: {} });
  expect(readRecords(join(second.exports[0]!.dir, 't.jsonl'))).toEqual([{ id: 2, email: 'nope', amount: '-1' }]);
  expect((await listHeld(pipeline, { limit: 100 })).map((h) => h.key)).toEqual(['3']);

  // a source that does not exist is a usage error
  const unknown = spawnSync(process.execPath, [BIN, 'quarantine', 'release', file, '3', '--source', 'nope'], { encoding: 'utf8' });
  expect(unknown.status).toBe(2);
  expect(unknown.stderr).toContain('has no source nope');
});
