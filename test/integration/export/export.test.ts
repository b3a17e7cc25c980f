// The export runner through its API, on a real staging store (SQLite, and PostgreSQL when it is up):
// an export is published whole or not at all; incremental exports hold exactly the records whose change
// sequence is in (previous, upTo]; a tenant with no changes gets no export; `full` writes everything;
// the manifest says what the folder holds and where it came from.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvExporter } from '../../../exporters/csv';
import { jsonlExporter } from '../../../exporters/jsonl';
import type { Field, SourceRecord, StagedRecord } from '../../../src/core/record';
import type { ExportedFile, Exporter } from '../../../src/export/exporter';
import { exportDatasets, type ExportGroup, type TenantExport } from '../../../src/export/runner';
import { openStore } from '../../../src/stage/open';
import type { StagingStore } from '../../../src/stage/store';
import { readJsonl, snapshotTree, verifyExportFolder, type ManifestFile } from '../../helpers/cli-sluice';
import { describeWith, scratchDatabase } from '../../helpers/services';

const PIPELINE = 'p';
const SOURCES = ['orders', 'customers'] as const;
type Source = (typeof SOURCES)[number];
const ACME = 'acme';
/** A tenant whose name is not a safe folder name: it is percent-encoded as UTF-8. */
const ZOE = 'Zoë & Co/EU';
const FOLDER: Record<string, string> = { [ACME]: 'acme', [ZOE]: 'Zo%C3%AB%20%26%20Co%2FEU' };
const FIELDS: Record<Source, Field[]> = {
  orders: [
    { name: 'id', type: 'string', nullable: false },
    { name: 'total', type: 'number', nullable: true },
  ],
  customers: [
    { name: 'id', type: 'string', nullable: false },
    { name: 'name', type: 'string', nullable: true },
  ],
};
const EVERYTHING = { afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };

const upsert = (key: string, tenant: string, data: Record<string, unknown>): SourceRecord => ({
  key,
  tenant,
  op: 'upsert',
  cursor: null,
  json: JSON.stringify({ id: key, ...data }),
});
const remove = (key: string, tenant: string): SourceRecord => ({ key, tenant, op: 'delete', cursor: null, json: null });

type Backend = () => Promise<{ url: string; done(): Promise<void> }>;

const sqlite: Backend = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-export-store-'));
  return { url: `sqlite:${join(dir, 'staging.db')}`, done: async () => rmSync(dir, { recursive: true, force: true }) };
};
const postgres: Backend = async () => {
  const db = await scratchDatabase('postgres');
  return { url: db.url, done: db.drop };
};

/** An exporter that writes part of a file and then fails, as a full disk would. */
const brokenExporter = (calls: string[]): Exporter => ({
  async write(target): Promise<ExportedFile[]> {
    calls.push(target.source);
    writeFileSync(join(target.dir, `${target.source}.broken`), '{"id":"half a rec');
    throw new Error('ENOSPC: no space left on device (simulated)');
  },
});

function exportSuite(make: Backend): void {
  let store: StagingStore;
  let done: () => Promise<void>;
  let dir: string;
  let out: string;
  let run: string;
  let runs = 0;
  let checkpoints = 0;

  beforeEach(async () => {
    const backend = await make();
    done = backend.done;
    store = openStore(backend.url);
    await store.migrate();
    dir = mkdtempSync(join(tmpdir(), 'sluice-export-'));
    out = join(dir, 'out');
    await begin();
  });
  afterEach(async () => {
    await store.close();
    await done();
    rmSync(dir, { recursive: true, force: true });
  });

  async function begin(): Promise<string> {
    run = `run-${++runs}`;
    await store.startRun(PIPELINE, run);
    return run;
  }

  async function stage(source: Source, records: SourceRecord[]): Promise<void> {
    await store.describeStream(PIPELINE, source, FIELDS[source]);
    await store.commit({ id: run, pipeline: PIPELINE, source }, { rows: { kind: 'records', records }, checkpoint: { at: ++checkpoints } });
  }

  function group(formats: ExportGroup['formats'] = [
    { format: 'jsonl', exporter: jsonlExporter.create({ lineage: false }) },
    { format: 'csv', exporter: csvExporter.create(csvExporter.options.parse({})) },
  ]): ExportGroup {
    return { target: 'out', dir: out, formats };
  }

  async function exportAll(opts: { full?: boolean; groups?: ExportGroup[] } = {}): Promise<TenantExport[]> {
    const exported = await exportDatasets(store, {
      pipeline: PIPELINE,
      sources: SOURCES,
      groups: opts.groups ?? [group()],
      full: opts.full ?? false,
      runId: run,
      signal: new AbortController().signal,
    });
    return [...exported].sort((a, b) => (a.tenant < b.tenant ? -1 : 1));
  }

  const tenantDir = (tenant: string) => join(out, PIPELINE, FOLDER[tenant]!);
  const folderOf = (e: TenantExport) => join(tenantDir(e.tenant), e.id);
  const latestOf = (tenant: string) => readlinkSync(join(tenantDir(tenant), 'latest'));
  const keysIn = (folder: string, file: string) => (existsSync(join(folder, file)) ? readJsonl<{ id?: string; key?: string }>(join(folder, file)).map((r) => r.id ?? r.key) : []);
  const byTenant = (exports: TenantExport[]) => Object.fromEntries(exports.map((e) => [e.tenant, e]));

  async function staged(tenant: string, source: Source, op: 'upsert' | 'delete'): Promise<StagedRecord[]> {
    const all: StagedRecord[] = [];
    for await (const page of store.read(tenant, { pipeline: PIPELINE, source, op, ...EVERYTHING })) all.push(...page);
    return all;
  }

  /** Stages the first state: acme has orders 1, 2 and customer c1; Zoë has order 3 and customer c2. */
  async function firstState(): Promise<void> {
    await stage('orders', [upsert('o1', ACME, { total: 10 }), upsert('o2', ACME, { total: 20 }), upsert('o3', ZOE, { total: 30 })]);
    await stage('customers', [upsert('c1', ACME, { name: 'Ann' }), upsert('c2', ZOE, { name: 'Bob' })]);
  }

  test('the first export is a snapshot per tenant, and its manifest describes the folder exactly', async () => {
    await firstState();
    const rowsReported: number[] = [];
    const exported = await exportDatasets(store, {
      pipeline: PIPELINE,
      sources: SOURCES,
      groups: [group()],
      full: false,
      runId: run,
      signal: new AbortController().signal,
      onRows: (n) => rowsReported.push(n),
    });
    expect(exported.map((e) => e.tenant).sort()).toEqual([ACME, ZOE].sort());
    expect(rowsReported.reduce((a, b) => a + b, 0)).toBe(5);
    const ids = new Set(exported.map((e) => e.id));
    expect(ids.size).toBe(1); // one export id per target and run
    const [id] = [...ids];
    expect(id).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);

    const upTo = { orders: await store.highWater(PIPELINE, 'orders'), customers: await store.highWater(PIPELINE, 'customers') };
    const streams = new Map((await store.streams(PIPELINE)).map((s) => [s.source, s]));
    for (const e of exported) {
      const folder = join(out, PIPELINE, FOLDER[e.tenant]!, id!);
      expect(e).toMatchObject({ target: 'out', dir: folder, kind: 'snapshot', deleted: 0 });
      expect(latestOf(e.tenant)).toBe(id);
      expect(readdirSync(tenantDir(e.tenant)).sort()).toEqual([id, 'latest']);
      expect(readdirSync(folder).sort()).toEqual(['customers.csv', 'customers.jsonl', 'manifest.json', 'orders.csv', 'orders.jsonl']);

      const manifest = verifyExportFolder(folder);
      expect(manifest.files).toEqual(e.files);
      const expectedKeys = e.tenant === ACME ? { orders: ['o1', 'o2'], customers: ['c1'] } : { orders: ['o3'], customers: ['c2'] };
      expect(manifest).toEqual<ManifestFile>({
        sluice: expect.any(String),
        manifestVersion: 1,
        pipeline: PIPELINE,
        tenant: e.tenant,
        export: id!,
        kind: 'snapshot',
        previous: null,
        run,
        createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
        sources: Object.fromEntries(
          SOURCES.map((s) => [
            s,
            { rows: expectedKeys[s].length, deleted: 0, seq: { after: 0, upTo: upTo[s] }, checkpoint: streams.get(s)!.checkpoint, fields: FIELDS[s] },
          ]),
        ),
        files: e.files,
      });
      expect(e.rows).toBe(expectedKeys.orders.length + expectedKeys.customers.length);
      for (const s of SOURCES) {
        expect(keysIn(folder, `${s}.jsonl`)).toEqual(expectedKeys[s]);
        const jsonl = manifest.files.find((f) => f.path === `${s}.jsonl`);
        expect(jsonl).toMatchObject({ format: 'jsonl', source: s, rows: expectedKeys[s].length });
        const csv = manifest.files.find((f) => f.path === `${s}.csv`);
        expect(csv).toMatchObject({ format: 'csv', source: s, rows: expectedKeys[s].length });
        expect(csv!.columns!.map((c) => c.name)).toEqual(s === 'orders' ? ['id', 'total'] : ['id', 'name']);
      }
      expect(await store.lastExport(PIPELINE, 'out', e.tenant)).toEqual({
        id,
        pipeline: PIPELINE,
        target: 'out',
        tenant: e.tenant,
        dir: folder,
        full: true,
        seqs: upTo,
        rows: e.rows,
        runId: run,
        createdAt: manifest.createdAt,
      });
    }
  });

  test('an incremental export holds exactly the records whose seq is in (previous, upTo], deletes listed apart', async () => {
    await firstState();
    const first = byTenant(await exportAll());

    await begin();
    await stage('orders', [
      upsert('o1', ACME, { total: 11 }), // changed
      upsert('o2', ACME, { total: 20 }), // the same: not staged again
      upsert('o3', ACME, { total: 30 }), // moved from Zoë to acme
      upsert('o4', ZOE, { total: 40 }), // new
    ]);
    await stage('customers', [remove('c2', ZOE)]);
    const second = byTenant(await exportAll());
    expect(Object.keys(second).sort()).toEqual([ACME, ZOE].sort());

    const expected: Record<string, Record<string, string[]>> = {
      [ACME]: { 'orders.jsonl': ['o1', 'o3'], 'orders.deleted.jsonl': [], 'customers.jsonl': [], 'customers.deleted.jsonl': [] },
      [ZOE]: { 'orders.jsonl': ['o4'], 'orders.deleted.jsonl': ['o3'], 'customers.jsonl': [], 'customers.deleted.jsonl': ['c2'] },
    };
    for (const tenant of [ACME, ZOE]) {
      const e = second[tenant]!;
      const folder = folderOf(e);
      const manifest = verifyExportFolder(folder);
      expect(e.kind).toBe('changes');
      expect(manifest).toMatchObject({ kind: 'changes', previous: first[tenant]!.id, run });
      expect(latestOf(tenant)).toBe(e.id);
      expect(Object.fromEntries(Object.keys(expected[tenant]!).map((f) => [f, keysIn(folder, f)]))).toEqual(expected[tenant]);
      expect(e.deleted).toBe(expected[tenant]!['orders.deleted.jsonl'].length + expected[tenant]!['customers.deleted.jsonl'].length);

      const firstManifest = verifyExportFolder(folderOf(first[tenant]!));
      for (const source of SOURCES) {
        const { after, upTo } = manifest.sources[source]!.seq;
        expect(after).toBe(firstManifest.sources[source]!.seq.upTo);
        expect(upTo).toBe(await store.highWater(PIPELINE, source));
        // against the store itself: every record of the tenant whose seq is in (after, upTo], and no other
        const inRange = (op: 'upsert' | 'delete') => staged(tenant, source, op).then((rs) => rs.filter((r) => r.seq > after && r.seq <= upTo).map((r) => r.key));
        expect(keysIn(folder, `${source}.jsonl`)).toEqual(await inRange('upsert'));
        expect(keysIn(folder, `${source}.deleted.jsonl`)).toEqual(await inRange('delete'));
        expect(manifest.sources[source]).toMatchObject({ rows: (await inRange('upsert')).length, deleted: (await inRange('delete')).length });
      }
    }
    expect(readJsonl(join(folderOf(second[ACME]!), 'orders.jsonl'))).toEqual([
      { id: 'o1', total: 11 },
      { id: 'o3', total: 30 },
    ]);
    expect(readJsonl(join(folderOf(second[ZOE]!), 'orders.deleted.jsonl'))).toEqual([{ key: 'o3' }]);
  });

  test('a record committed while an export is being written waits for the next export', async () => {
    await firstState();
    await exportAll();
    await begin();
    await stage('orders', [upsert('o5', ACME, { total: 50 })]);
    const upToBefore = await store.highWater(PIPELINE, 'orders');
    let committedDuringExport = false;
    const jsonl = jsonlExporter.create({ lineage: false });
    const racing: Exporter = {
      async write(target, input) {
        if (!committedDuringExport) {
          committedDuringExport = true;
          await stage('orders', [upsert('o6', ACME, { total: 60 })]);
        }
        return jsonl.write(target, input);
      },
    };
    const [during] = await exportAll({ groups: [group([{ format: 'jsonl', exporter: racing }])] });
    expect(committedDuringExport).toBe(true);
    expect(during!.tenant).toBe(ACME);
    expect(keysIn(folderOf(during!), 'orders.jsonl')).toEqual(['o5']);
    expect(verifyExportFolder(folderOf(during!)).sources.orders!.seq.upTo).toBe(upToBefore);

    const [next] = await exportAll({ groups: [group([{ format: 'jsonl', exporter: jsonl }])] });
    expect(next!.tenant).toBe(ACME);
    expect(keysIn(folderOf(next!), 'orders.jsonl')).toEqual(['o6']);
    expect(verifyExportFolder(folderOf(next!))).toMatchObject({ previous: during!.id, sources: { orders: { seq: { after: upToBefore } } } });
  });

  test('a tenant with no changes since its previous export gets no new export', async () => {
    await firstState();
    const first = byTenant(await exportAll());
    const zoeBefore = snapshotTree(tenantDir(ZOE));

    // nothing changed at all: no export for anyone
    expect(await exportAll()).toEqual([]);
    expect(readdirSync(tenantDir(ACME)).sort()).toEqual([first[ACME]!.id, 'latest']);

    await begin();
    await stage('orders', [upsert('o2', ACME, { total: 21 }), upsert('o3', ZOE, { total: 30 })]); // Zoë's o3 is unchanged
    const second = await exportAll();
    expect(second.map((e) => [e.tenant, e.kind, e.rows])).toEqual([[ACME, 'changes', 1]]);
    expect(snapshotTree(tenantDir(ZOE))).toEqual(zoeBefore);
    expect(latestOf(ZOE)).toBe(first[ZOE]!.id);
    expect((await store.lastExport(PIPELINE, 'out', ZOE))!.id).toBe(first[ZOE]!.id);
    expect(readdirSync(tenantDir(ZOE)).filter((e) => e.startsWith('.'))).toEqual([]); // the skipped export left no temporary
  });

  test('full writes every current record of every tenant, changed or not, without deletes', async () => {
    await firstState();
    await exportAll();
    await begin();
    await stage('orders', [upsert('o3', ACME, { total: 30 })]); // moves o3 to acme: Zoë keeps a tombstone
    await exportAll();

    const full = byTenant(await exportAll({ full: true }));
    expect(Object.keys(full).sort()).toEqual([ACME, ZOE].sort());
    for (const [tenant, keys] of [
      [ACME, { orders: ['o1', 'o2', 'o3'], customers: ['c1'] }],
      [ZOE, { orders: [], customers: ['c2'] }],
    ] as const) {
      const e = full[tenant]!;
      const manifest = verifyExportFolder(folderOf(e));
      expect(e).toMatchObject({ kind: 'snapshot', deleted: 0, rows: keys.orders.length + keys.customers.length });
      expect(manifest).toMatchObject({ kind: 'snapshot', previous: null });
      expect(latestOf(tenant)).toBe(e.id);
      for (const s of SOURCES) {
        expect(keysIn(folderOf(e), `${s}.jsonl`).sort()).toEqual([...keys[s]]);
        expect(manifest.sources[s]!.seq).toEqual({ after: 0, upTo: await store.highWater(PIPELINE, s) });
      }
      expect(manifest.files.map((f) => f.path).filter((p) => p.includes('deleted'))).toEqual([]);
      expect(await store.lastExport(PIPELINE, 'out', tenant)).toMatchObject({ id: e.id, full: true });
    }
    // a later incremental export follows on from the snapshot
    await begin();
    await stage('customers', [upsert('c2', ZOE, { name: 'Bo' })]);
    const [after] = await exportAll();
    expect(after).toMatchObject({ tenant: ZOE, kind: 'changes', rows: 1 });
    expect(verifyExportFolder(folderOf(after!)).previous).toBe(full[ZOE]!.id);
  });

  test('publishing is atomic: an exporter that fails mid-write leaves no trace, and the next export has its records', async () => {
    await firstState();
    const first = byTenant(await exportAll());
    await begin();
    await stage('orders', [upsert('o1', ACME, { total: 12 }), upsert('o4', ZOE, { total: 40 })]);
    const tree = snapshotTree(out);
    const exportsBefore = await store.latestExports(PIPELINE);

    const calls: string[] = [];
    const failing = group([
      { format: 'jsonl', exporter: jsonlExporter.create({ lineage: false }) },
      { format: 'broken', exporter: brokenExporter(calls) },
    ]);
    const err = await exportAll({ groups: [failing] }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; context?: { tenant?: string } },
    );
    expect(err).toBeDefined();
    expect(err!.code).toBe('SLUICE_EXPORT_WRITE');
    expect(err!.message).toContain('ENOSPC: no space left on device (simulated)');
    // it failed on the first source of the tenants in flight (two at a time), after their JSONL files were written
    expect(calls.length).toBeGreaterThan(0);
    expect(new Set(calls)).toEqual(new Set(['orders']));
    expect(err!.context?.tenant).toBeDefined();

    // no new export folder, no .tmp-* left, `latest` unchanged, nothing recorded
    expect(snapshotTree(out)).toEqual(tree);
    for (const tenant of [ACME, ZOE]) {
      expect(readdirSync(tenantDir(tenant)).sort()).toEqual([first[tenant]!.id, 'latest']);
      expect(latestOf(tenant)).toBe(first[tenant]!.id);
    }
    expect(await store.latestExports(PIPELINE)).toEqual(exportsBefore);

    // so the next export still includes what the failed one would have published
    const next = byTenant(await exportAll());
    expect(keysIn(folderOf(next[ACME]!), 'orders.jsonl')).toEqual(['o1']);
    expect(keysIn(folderOf(next[ZOE]!), 'orders.jsonl')).toEqual(['o4']);
    for (const tenant of [ACME, ZOE]) expect(verifyExportFolder(folderOf(next[tenant]!)).previous).toBe(first[tenant]!.id);
  });

  test('a source with a field named _sluice is refused by every format that adds lineage, before anything is written; without lineage it exports', async () => {
    const fields = [...FIELDS.orders, { name: '_sluice', type: 'object' as const, nullable: true }];
    await store.describeStream(PIPELINE, 'orders', fields);
    await store.commit({ id: run, pipeline: PIPELINE, source: 'orders' }, { rows: { kind: 'records', records: [upsert('o1', ACME, { total: 1, _sluice: { from: 'an earlier export' } })] }, checkpoint: { at: ++checkpoints } });
    for (const entry of [
      { format: 'jsonl', exporter: jsonlExporter.create({ lineage: true }) },
      { format: 'csv', exporter: csvExporter.create(csvExporter.options.parse({ lineage: true })) },
    ]) {
      const err = await exportAll({ groups: [group([entry])] }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; context?: { source?: string } },
      );
      expect(err).toMatchObject({ code: 'SLUICE_EXPORT_LINEAGE', context: { source: 'orders' } });
      expect(err!.message).toContain('lineage: false');
      // nothing published, nothing recorded
      expect(existsSync(join(tenantDir(ACME), 'latest'))).toBe(false);
      expect(await store.latestExports(PIPELINE)).toEqual([]);
    }
    const [exported] = await exportAll({ groups: [group([{ format: 'jsonl', exporter: jsonlExporter.create({ lineage: false }) }])] });
    expect(readJsonl(join(folderOf(exported!), 'orders.jsonl'))).toEqual([{ id: 'o1', total: 1, _sluice: { from: 'an earlier export' } }]);
  });

  test('a record with its own _sluice member (as a pulled or pushed body may have) is refused by every format that adds lineage, naming it; other records are not', async () => {
    // nothing declared, as for pulled and pushed sources: the records' own members are the fields
    await store.describeStream(PIPELINE, 'orders', []);
    const records = [upsert('o1', ACME, { total: 1, note: '"_sluice" is reserved' }), upsert('o2', ACME, { total: 2, _sluice: 'mine' }), upsert('o3', ACME, { total: 3, meta: { _sluice: 1 } })];
    await store.commit({ id: run, pipeline: PIPELINE, source: 'orders' }, { rows: { kind: 'records', records }, checkpoint: { at: ++checkpoints } });
    for (const entry of [
      { format: 'jsonl', exporter: jsonlExporter.create({ lineage: true }) },
      { format: 'csv', exporter: csvExporter.create(csvExporter.options.parse({ lineage: true })) },
    ]) {
      const err = await exportAll({ groups: [group([entry])] }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; context?: { source?: string; key?: string } },
      );
      expect(err).toMatchObject({ code: 'SLUICE_EXPORT_LINEAGE', context: { source: 'orders', key: 'o2' } });
      expect(existsSync(join(tenantDir(ACME), 'latest'))).toBe(false);
      expect(await store.latestExports(PIPELINE)).toEqual([]);
    }
    await stage('orders', [upsert('o2', ACME, { total: 2, mine: 'renamed at the source' })]);
    const [exported] = await exportAll({ groups: [group([{ format: 'jsonl', exporter: jsonlExporter.create({ lineage: true }) }])] });
    expect(readJsonl<{ id: string; _sluice: { key: string } }>(join(folderOf(exported!), 'orders.jsonl')).map((r) => [r.id, r._sluice.key])).toEqual([
      ['o1', 'o1'],
      ['o3', 'o3'],
      ['o2', 'o2'],
    ]);
  });

  test('a failure for one tenant keeps the tenants published before it; the next export writes the rest', async () => {
    await firstState();
    const first = byTenant(await exportAll());
    // tenants are exported in the store's order: the first one succeeds, the last one fails
    const [good, bad] = await store.tenants(PIPELINE);
    await begin();
    await stage('orders', [upsert('o1', ACME, { total: 13 }), upsert('o4', ZOE, { total: 40 })]);
    const badBefore = snapshotTree(tenantDir(bad!));
    const jsonl = jsonlExporter.create({ lineage: false });
    const broken = brokenExporter([]);
    const picky: Exporter = { write: (target, input) => (target.dir.startsWith(`${tenantDir(bad!)}/`) ? broken.write(target, input) : jsonl.write(target, input)) };
    await expect(exportAll({ groups: [group([{ format: 'jsonl', exporter: picky }])] })).rejects.toMatchObject({
      code: 'SLUICE_EXPORT_WRITE',
      context: { tenant: bad, pipeline: PIPELINE },
    });
    const published = await store.lastExport(PIPELINE, 'out', good!);
    expect(published!.id).not.toBe(first[good!]!.id); // the first tenant's export was published and recorded
    expect(latestOf(good!)).toBe(published!.id);
    expect(keysIn(published!.dir, 'orders.jsonl')).toEqual([good === ACME ? 'o1' : 'o4']);
    expect(snapshotTree(tenantDir(bad!))).toEqual(badBefore);
    expect((await store.lastExport(PIPELINE, 'out', bad!))!.id).toBe(first[bad!]!.id);

    const next = await exportAll();
    expect(next.map((e) => [e.tenant, e.kind, e.rows])).toEqual([[bad, 'changes', 1]]);
    expect(keysIn(folderOf(next[0]!), 'orders.jsonl')).toEqual([bad === ACME ? 'o1' : 'o4']);
  });

  test('a failure to record an export leaves it unpublished', async () => {
    await firstState();
    const first = byTenant(await exportAll());
    await begin();
    await stage('orders', [upsert('o1', ACME, { total: 14 })]);
    const tree = snapshotTree(out);
    const unrecordable = new Proxy(store, {
      get(target, prop) {
        if (prop === 'addExport') return () => Promise.reject(new Error('the staging store went away (simulated)'));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await expect(
      exportDatasets(unrecordable, { pipeline: PIPELINE, sources: SOURCES, groups: [group()], full: false, runId: run, signal: new AbortController().signal }),
    ).rejects.toMatchObject({ code: 'SLUICE_EXPORT_WRITE' });
    expect(await store.lastExport(PIPELINE, 'out', ACME)).toMatchObject({ id: first[ACME]!.id });
    expect(latestOf(ACME)).toBe(first[ACME]!.id); // fails today: latest points at the unrecorded export
    expect(snapshotTree(out)).toEqual(tree);
  });

  test('leftovers of an export that crashed are removed by the next export of the tenant', async () => {
    await firstState();
    await exportAll();
    mkdirSync(join(tenantDir(ACME), '.tmp-20250101T000000000Z-dead00'));
    writeFileSync(join(tenantDir(ACME), '.tmp-20250101T000000000Z-dead00', 'orders.jsonl'), '{"id":"o');
    await begin();
    await stage('orders', [upsert('o7', ACME, { total: 70 })]);
    const [e] = await exportAll();
    expect(e!.tenant).toBe(ACME);
    expect(readdirSync(tenantDir(ACME)).filter((x) => x.startsWith('.'))).toEqual([]);
  });

  test('each export path keeps its own history', async () => {
    await firstState();
    await exportAll();
    const other: ExportGroup = { target: 'mirror', dir: join(dir, 'mirror'), formats: [{ format: 'jsonl', exporter: jsonlExporter.create({ lineage: false }) }] };
    const mirrored = await exportAll({ groups: [other] });
    expect(mirrored.map((e) => [e.tenant, e.kind, e.target])).toEqual(
      [[ACME, 'snapshot', 'mirror'], [ZOE, 'snapshot', 'mirror']].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    expect(keysIn(join(dir, 'mirror', PIPELINE, FOLDER[ACME]!, mirrored.find((e) => e.tenant === ACME)!.id), 'orders.jsonl')).toEqual(['o1', 'o2']);
  });
}

describe('export runner on an SQLite staging store', () => {
  exportSuite(sqlite);
});

describeWith('postgres', 'export runner on a PostgreSQL staging store', () => {
  exportSuite(postgres);
});
