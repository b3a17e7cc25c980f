// No tenant's export ever holds another tenant's record. A multi-tenant SQLite source is run 1 to 3
// times, with rows changing tenant, changing value or being added between runs, exporting JSONL and CSV
// each time; then once more with `full: true`. Every export folder of every tenant (not only `latest`)
// must hold exactly that tenant's records as of that export's run: every data key belongs to the tenant
// then (with the data the row had then), every `*.deleted.jsonl` key left the tenant since its previous
// export, a changes export holds exactly what changed for the tenant since then; and the final snapshot
// of each tenant holds exactly the tenant's current keys. `sluice exports list` and `diff` of a tenant
// show only its own exports and keys.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { tenantDirName, tenantFromDirName } from '../../src/core/tenant';
import { diffExports, listExports } from '../../src/export/history';
import { pipelineSchema } from '../../src/run/pipeline';
import { runPipeline } from '../../src/run/run';
import { awkwardText, tempDir, type TempDir } from '../helpers/prop-support';

/** Tenants whose names are awkward as folder names. */
const TENANTS = ['acme', 'United Kingdom', '../escape', '.hidden', 'a/b', 'x%2Fy', 'ünï', ''];

interface Row {
  tenant: string;
  value: string | null;
  updated_at: number;
}
type State = Map<number, Row>;

type Mutation =
  | { kind: 'move'; pick: number; tenant: string }
  | { kind: 'value'; pick: number; value: string | null }
  | { kind: 'add'; tenant: string; value: string | null };

const tenant = fc.constantFrom(...TENANTS);
const value = fc.option(awkwardText(), { nil: null, freq: 5 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), tenant }),
  fc.record({ kind: fc.constant('value' as const), pick: fc.nat(), value }),
  fc.record({ kind: fc.constant('add' as const), tenant, value }),
);

const scenario = fc.record({
  mode: fc.constantFrom('cursor', 'full'),
  initial: fc.array(fc.record({ tenant, value }), { minLength: 1, maxLength: 30, size: 'medium' }),
  /** the changes made before each later run */
  later: fc.array(fc.array(mutation, { minLength: 1, maxLength: 8 }), { maxLength: 2 }),
});

interface TenantExport {
  kind: 'snapshot' | 'changes';
  keys: string[];
  deleted: string[];
}

/** What the exports should be: per run, per tenant that gets one. */
function expectedExports(states: State[]): Map<string, TenantExport>[] {
  const owner = (r: number, id: number) => states[r]?.get(id)?.tenant;
  const changed = (r: number, id: number) => {
    const before = states[r - 1]?.get(id);
    const now = states[r]!.get(id);
    return now !== undefined && (!before || before.updated_at !== now.updated_at);
  };
  const lastExport = new Map<string, number>();
  const known = new Set<string>();
  const out: Map<string, TenantExport>[] = [];
  const ids = (r: number) => [...states[r]!.keys()];
  states.forEach((state, r) => {
    for (const row of state.values()) known.add(row.tenant);
    const exports = new Map<string, TenantExport>();
    for (const t of known) {
      const prev = lastExport.get(t);
      const owned = ids(r).filter((id) => owner(r, id) === t);
      let e: TenantExport;
      if (prev === undefined) e = { kind: 'snapshot', keys: owned.map(String), deleted: [] };
      else {
        const since = Array.from({ length: r - prev }, (_, i) => prev + 1 + i);
        const keys = owned.filter((id) => since.some((x) => changed(x, id)));
        const deleted = ids(r).filter((id) => owner(r, id) !== t && since.some((x) => owner(x - 1, id) === t && owner(x, id) !== t));
        if (keys.length === 0 && deleted.length === 0) continue;
        e = { kind: 'changes', keys: keys.map(String), deleted: deleted.map(String) };
      }
      exports.set(t, e);
      lastExport.set(t, r);
    }
    out.push(exports);
  });
  return out;
}

function applyTo(state: State, mutations: Mutation[], clock: () => number): State {
  const next = new Map([...state].map(([id, row]) => [id, { ...row }]));
  for (const m of mutations) {
    const ids = [...next.keys()];
    if (m.kind === 'add') next.set(Math.max(...ids) + 1, { tenant: m.tenant, value: m.value, updated_at: clock() });
    else {
      const row = next.get(ids[m.pick % ids.length]!)!;
      if (m.kind === 'move') row.tenant = m.tenant;
      else row.value = m.value;
      row.updated_at = clock();
    }
  }
  return next;
}

function writeSource(file: string, state: State): void {
  const db = new Database(file);
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, value TEXT, updated_at INTEGER NOT NULL)`);
    const upsert = db.prepare(
      `INSERT INTO items (id, tenant, value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, value = excluded.value, updated_at = excluded.updated_at`,
    );
    db.transaction(() => state.forEach((r, id) => upsert.run(id, r.tenant, r.value, r.updated_at)))();
  } finally {
    db.close();
  }
}

/** The rows of a CSV export, by its header. */
function csvRows(file: string): Record<string, string>[] {
  const rows: unknown = parse(readFileSync(file, 'utf8'), { columns: true, record_delimiter: '\n' });
  if (!Array.isArray(rows)) throw new Error(`${file}: no rows`);
  return rows.map((row: unknown) => {
    if (typeof row !== 'object' || row === null) throw new Error(`${file}: a row that is not an object`);
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, String(v)]));
  });
}

const jsonLines = (file: string): unknown[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as unknown)
    : [];

const keyOf = (data: unknown): string => {
  if (typeof data !== 'object' || data === null || !('id' in data)) throw new Error(`a record without an id: ${JSON.stringify(data)}`);
  return String(data.id);
};

describe('tenant isolation of exports', () => {
  let tmp: TempDir;
  beforeAll(() => (tmp = tempDir('tenants')));
  afterAll(() => tmp?.remove());
  let counter = 0;

  test('every export of a tenant holds exactly its own records as of its run', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ mode, initial, later }) => {
        const n = ++counter;
        const dir = join(tmp.path, `case-${n}`);
        mkdirSync(dir);
        const out = join(dir, 'out');
        const sourceFile = join(dir, 'source.db');
        const stagingUrl = `sqlite:${join(dir, 'staging.db')}`;
        let time = 0;
        const clock = () => ++time;

        const states: State[] = [new Map(initial.map((r, i) => [i + 1, { ...r, updated_at: clock() }]))];
        for (const mutations of later) states.push(applyTo(states[states.length - 1]!, mutations, clock));

        const pipeline = pipelineSchema.parse({
          name: `iso${n}`,
          tenant: { column: 'tenant' },
          sources: [
            { name: 'items', read: { driver: 'sqlite', url: `sqlite:${sourceFile}`, table: 'items', key: 'id', ...(mode === 'cursor' ? { cursor: 'updated_at' } : {}) } },
          ],
          export: [
            { format: 'jsonl', path: out },
            { format: 'csv', path: out },
          ],
        });
        const runs: string[] = [];
        for (const state of states) {
          writeSource(sourceFile, state);
          runs.push((await runPipeline(pipeline, { stagingUrl })).run);
        }
        const final = await runPipeline(pipeline, { stagingUrl, full: true });
        runs.push(final.run);

        // the final full run: a snapshot of each tenant ever seen, with its current keys
        const expected = expectedExports(states);
        const current = states[states.length - 1]!;
        const everyTenant = new Set(states.flatMap((s) => [...s.values()].map((r) => r.tenant)));
        expected.push(
          new Map(
            [...everyTenant].map((t) => [t, { kind: 'snapshot', keys: [...current].filter(([, r]) => r.tenant === t).map(([id]) => String(id)), deleted: [] }]),
          ),
        );

        // what is on disk, export by export
        const actual: Map<string, TenantExport>[] = runs.map(() => new Map());
        const root = join(out, `iso${n}`);
        for (const folder of readdirSync(root)) {
          const t = tenantFromDirName(folder);
          expect({ folder, tenant: t, known: everyTenant.has(t) }).toEqual({ folder: tenantDirName(t), tenant: t, known: true });
          for (const id of readdirSync(join(root, folder))) {
            if (id === 'latest') continue;
            expect(id.startsWith('.')).toBe(false); // no temporary folder left behind
            const exportDir = join(root, folder, id);
            const manifest = JSON.parse(readFileSync(join(exportDir, 'manifest.json'), 'utf8')) as { tenant: string; run: string; kind: 'snapshot' | 'changes' };
            expect(manifest.tenant).toBe(t);
            const r = runs.indexOf(manifest.run);
            expect(r).toBeGreaterThanOrEqual(0);
            const state = r < states.length ? states[r]! : current;

            const data = jsonLines(join(exportDir, 'items.jsonl'));
            const keys = data.map(keyOf);
            // every record is the tenant's, with the data its row had in that run
            for (const { _sluice, ...record } of data as { _sluice: { key: string; run: string } }[]) {
              const row = state.get(Number(keyOf(record)));
              expect({ tenant: t, run: r, record }).toEqual({ tenant: t, run: r, record: { id: Number(keyOf(record)), ...row } });
              // its lineage names the same key, and a run that had happened by then
              expect(_sluice.key).toBe(String(keyOf(record)));
              expect(runs.indexOf(_sluice.run)).toBeGreaterThanOrEqual(0);
              expect(runs.indexOf(_sluice.run)).toBeLessThanOrEqual(r);
            }
            const csvKeys = csvRows(join(exportDir, 'items.csv')).map((row) => row.id);
            expect(csvKeys).toEqual(keys);
            const deleted = jsonLines(join(exportDir, 'items.deleted.jsonl')).map((d) => {
              if (typeof d !== 'object' || d === null || !('key' in d)) throw new Error('a delete line without a key');
              return String(d.key);
            });
            expect(actual[r]!.has(t)).toBe(false);
            actual[r]!.set(t, { kind: manifest.kind, keys: keys.sort(), deleted: deleted.sort() });
          }

          // `sluice exports list` and `diff` of the tenant name only the tenant's exports and keys: a diff
          // from nothing (its first export against itself is empty) to the final snapshot adds exactly
          // keys the tenant holds now and removes only keys it held then
          const listed = listExports(out, `iso${n}`, t);
          expect(listed.map((e) => e.manifest.tenant)).toEqual(listed.map(() => t));
          const ownedEver = new Set(states.flatMap((st) => [...st].filter(([, row]) => row.tenant === t).map(([id]) => String(id))));
          const diff = await diffExports(listed, listed[0]!.id, 'latest');
          const diffKeys = Object.values(diff.sources).flatMap((d) => [...d.added, ...d.changed, ...d.removed]);
          expect(diffKeys.filter((k) => !ownedEver.has(k))).toEqual([]);

          // latest is the final snapshot
          const latest = readlinkSync(join(root, folder, 'latest'));
          const manifest = JSON.parse(readFileSync(join(root, folder, latest, 'manifest.json'), 'utf8')) as { run: string; kind: string };
          expect({ tenant: t, run: manifest.run, kind: manifest.kind }).toEqual({ tenant: t, run: final.run, kind: 'snapshot' });
        }

        const sorted = (exports: Map<string, TenantExport>) =>
          Object.fromEntries(
            [...exports].sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, e]) => [t, { ...e, keys: [...e.keys].sort(), deleted: [...e.deleted].sort() }]),
          );
        expect(actual.map(sorted)).toEqual(expected.map(sorted));
      }),
      { numRuns: 20 },
    );
  }, 150_000);
});
