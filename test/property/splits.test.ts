// Dataset splits in whole runs: for any set of keys and shares, the split files of an export are
// disjoint and together hold every record; when records are added, no record already exported moves to
// another split; `by: <field>` keeps records that share the field's value in one split. Compressed
// split files inflate to the same records, and the manifest names each file's split and sizes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { loadPipeline } from '../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../src/run/run';
import type { Manifest } from '../../src/export/manifest';

const SPLITS = ['train', 'val', 'test'] as const;

function setup(dir: string, by: string, shares: readonly number[]): string {
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id TEXT PRIMARY KEY, grp INTEGER)`);
  db.close();
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: ds
sources:
  - name: items
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }
tenant: { value: acme }
export:
  - format: jsonl
    path: ${join(dir, 'out')}
    split: { train: ${shares[0]}, val: ${shares[1]}, test: ${shares[2]}, by: ${by} }
    compress: gzip
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  return file;
}

function add(dir: string, rows: [string, number][]): void {
  const db = new Database(join(dir, 'src.db'));
  const insert = db.prepare(`INSERT INTO items VALUES (?, ?)`);
  for (const r of rows) insert.run(...r);
  db.close();
}

/** split name → the records in its file */
function splitsOf(s: RunSummary): Map<string, { id: string; grp: number }[]> {
  const dir = s.exports[0]!.dir;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const out = new Map<string, { id: string; grp: number }[]>();
  for (const split of SPLITS) {
    const file = manifest.files.find((f) => f.split === split)!;
    expect(file).toMatchObject({ path: `items.${split}.jsonl.gz`, compression: 'gzip' });
    const raw = gunzipSync(readFileSync(join(dir, file.path)));
    expect(raw.length).toBe(file.rawBytes);
    const text = raw.toString('utf8');
    out.set(split, text === '' ? [] : text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { id: string; grp: number }));
  }
  return out;
}

const shares = fc.constantFrom([0.8, 0.1, 0.1], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33], [0.9, 0.05, 0.05]);
const keys = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 80 });

test('property: splits are disjoint, complete, and stable when records are added', async () => {
  await fc.assert(
    fc.asyncProperty(keys, keys, shares, async (first, more, share) => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-split-'));
      try {
        const file = setup(dir, 'key', share);
        add(dir, first.map((k) => [k, 0]));
        const one = splitsOf(await runPipeline(loadPipeline(file, {}), { env: {} }));
        const placed = new Map<string, string>();
        for (const [split, records] of one) for (const r of records) {
          expect(placed.has(r.id)).toBe(false); // disjoint
          placed.set(r.id, split);
        }
        expect([...placed.keys()].sort()).toEqual([...first].sort()); // complete

        const added = more.filter((k) => !first.includes(k));
        add(dir, added.map((k) => [k, 0]));
        const two = splitsOf(await runPipeline(loadPipeline(file, {}), { env: {}, full: true }));
        const again = new Map<string, string>();
        for (const [split, records] of two) for (const r of records) again.set(r.id, split);
        expect([...again.keys()].sort()).toEqual([...first, ...added].sort());
        for (const [id, split] of placed) expect({ id, split: again.get(id) }).toEqual({ id, split }); // stable
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 15 },
  );
}, 120_000);

test('by a field: records sharing its value stay in one split', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-split-'));
  try {
    const file = setup(dir, 'grp', [0.6, 0.2, 0.2]);
    add(dir, Array.from({ length: 300 }, (_, i): [string, number] => [`r${i}`, i % 40]));
    const splits = splitsOf(await runPipeline(loadPipeline(file, {}), { env: {} }));
    const groupSplit = new Map<number, string>();
    for (const [split, records] of splits) for (const r of records) {
      expect({ grp: r.grp, split: groupSplit.get(r.grp) ?? split }).toEqual({ grp: r.grp, split });
      groupSplit.set(r.grp, split);
    }
    expect(groupSplit.size).toBe(40);
    const manifest = JSON.parse(readFileSync(join(dir, 'out', 'ds', 'acme', 'latest', 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.splits).toEqual({ jsonl: { shares: { train: 0.6, val: 0.2, test: 0.2 }, by: 'grp' } });
    expect(new Set(groupSplit.values()).size).toBe(3); // 40 groups over 3 splits: each gets some
    expect(existsSync(join(dir, 'out', 'ds', 'acme', 'latest', 'items.jsonl.gz'))).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shares that do not add up to 1, or a bad split name, are refused when the file is loaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-split-'));
  try {
    expect(() => loadPipeline(setup(dir, 'key', [0.8, 0.1, 0.2]), {})).toThrow(/shares add up to 1, got 1.1/);
    const file = join(dir, 'p.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('train:', '"tr ain":'));
    expect(() => loadPipeline(file, {})).toThrow(/a split name is a word/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
