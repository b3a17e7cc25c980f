// `sluice exports list|show|diff`: a tenant's exports as users see them from the command line — listed
// oldest first with the latest marked, one shown from its manifest, and two compared by record key
// (added, changed, removed) across snapshot and change exports, gzip included.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expectExit, sluice } from '../../helpers/cli-sluice';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-exports-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, tenant TEXT, name TEXT)`);
  db.prepare(`INSERT INTO items VALUES (1,'acme','a'),(2,'acme','b'),(3,'acme','c'),(4,'acme','d'),(5,'globex','e')`).run();
  db.close();
  writeFileSync(
    join(dir, 'p.yaml'),
    `name: shop
sources:
  - name: items
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }
tenant: { column: tenant }
export:
  - format: jsonl
    path: out
    compress: gzip
  - format: csv
    path: out
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = async (...args: string[]) => {
  const r = await sluice(args, { cwd: dir });
  expectExit(r, 0);
  return r.stdout;
};
const change = (sql: string) => {
  const db = new Database(join(dir, 'src.db'));
  db.exec(sql);
  db.close();
};

test('list, show and diff a tenant\'s exports', async () => {
  await cli('run', 'p.yaml');
  // 3 moves to another tenant: acme's next export lists it as deleted
  change(`UPDATE items SET name = 'B' WHERE id = 2; UPDATE items SET tenant = 'globex' WHERE id = 3; INSERT INTO items VALUES (6, 'acme', 'f')`);
  await cli('run', 'p.yaml');
  change(`UPDATE items SET name = 'D' WHERE id = 4; UPDATE items SET name = 'E' WHERE id = 5`);
  await cli('run', 'p.yaml');

  const list = JSON.parse(await cli('exports', 'list', 'p.yaml', '--tenant', 'acme', '--json')) as { id: string; kind: string; latest: boolean; rows: number; deleted: number }[];
  expect(list.map((e) => [e.kind, e.rows, e.deleted, e.latest])).toEqual([
    ['snapshot', 4, 0, false],
    ['changes', 2, 1, false],
    ['changes', 1, 0, true],
  ]);
  expect(await cli('exports', 'list', 'p.yaml', '--tenant', 'acme')).toMatch(/snapshot[\s\S]*\(latest\)/);

  const shown = JSON.parse(await cli('exports', 'show', 'p.yaml', 'latest', '--tenant', 'acme', '--json')) as { tenant: string; files: { path: string }[] };
  expect(shown.tenant).toBe('acme');
  expect(shown.files.map((f) => f.path)).toEqual(['items.jsonl.gz', 'items.csv']);

  const diff = JSON.parse(await cli('exports', 'diff', 'p.yaml', list[0]!.id, 'latest', '--tenant', 'acme', '--json')) as { sources: Record<string, unknown> };
  expect(diff.sources).toEqual({ items: { added: ['6'], changed: ['2', '4'], removed: ['3'] } });
  const back = JSON.parse(await cli('exports', 'diff', 'p.yaml', 'latest', list[0]!.id, '--tenant', 'acme', '--json')) as { sources: Record<string, unknown> };
  expect(back.sources).toEqual({ items: { added: ['3'], changed: ['2', '4'], removed: ['6'] } });
  expect(await cli('exports', 'diff', 'p.yaml', list[1]!.id, list[2]!.id, '--tenant', 'acme')).toContain('items: 0 added, 1 changed, 0 removed\n    ~ 4');

  // the other tenant's keys never show
  const globex = JSON.parse(await cli('exports', 'list', 'p.yaml', '--tenant', 'globex', '--json')) as { id: string }[];
  const other = JSON.parse(await cli('exports', 'diff', 'p.yaml', globex[0]!.id, 'latest', '--tenant', 'globex', '--json')) as { sources: Record<string, unknown> };
  expect(other.sources).toEqual({ items: { added: ['3'], changed: ['5'], removed: [] } });

  const missing = await sluice(['exports', 'show', 'p.yaml', 'nope', '--tenant', 'acme'], { cwd: dir });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/no export nope for tenant acme/);
}, 60_000);
