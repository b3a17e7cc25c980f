// The staging store's promises, once for each backend: a batch and its checkpoint commit together or
// not at all; unchanged records are not staged again; records that move tenant leave a tombstone;
// every read names a tenant and sees only that tenant; the run lock excludes a second holder.
import { mkdtempSync } from 'node:fs';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCopyRecord } from '../../../src/core/copy-text';
import type { Batch, SourceRecord, StagedRecord } from '../../../src/core/record';
import { openStore } from '../../../src/stage/open';
import type { StagingStore } from '../../../src/stage/store';
import { stagingBackends } from '../../helpers/services';

const rec = (key: string, tenant: string, data: object): SourceRecord => ({ key, tenant, cursor: null, op: 'upsert', json: JSON.stringify(data) });
const batch = (records: SourceRecord[], at: number): Batch => ({ rows: { kind: 'records', records }, checkpoint: { at } });
const ALL = { afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };

async function readAll(store: StagingStore, tenant: string, op: 'upsert' | 'delete' = 'upsert'): Promise<StagedRecord[]> {
  const out: StagedRecord[] = [];
  for await (const page of store.read(tenant, { pipeline: 'p', source: 's', ...ALL, op })) out.push(...page);
  return out;
}

const backends = stagingBackends(() => mkdtempSync(join(tmpdir(), 'sluice-store-')), 'store');

describe.each(backends)('%s store', (_name, make) => {
  let store: StagingStore;
  let done: () => Promise<void>;
  let url: string;
  const run = { id: 'run-1', pipeline: 'p', source: 's' };

  beforeEach(async () => {
    const b = await make();
    done = b.done;
    url = b.url;
    store = openStore(url);
    await store.migrate();
    await store.startRun('p', 'run-1');
  });
  afterEach(async () => {
    await store.close();
    await done();
  });

  test('a batch and its checkpoint are committed together; identical records are not staged again', async () => {
    expect(await store.checkpoint('p', 's')).toBeUndefined();
    expect(await store.commit(run, batch([rec('1', 'a', { v: 1 }), rec('2', 'b', { v: 2 })], 1))).toEqual({
      read: 2,
      staged: 2,
      unchanged: 0,
      byTenant: { a: { read: 1, staged: 1 }, b: { read: 1, staged: 1 } },
    });
    expect(await store.checkpoint('p', 's')).toEqual({ at: 1 });
    expect(await store.commit(run, batch([rec('1', 'a', { v: 1 }), rec('2', 'b', { v: 3 })], 2))).toEqual({
      read: 2,
      staged: 1,
      unchanged: 1,
      byTenant: { a: { read: 1, staged: 0 }, b: { read: 1, staged: 1 } },
    });
    expect((await readAll(store, 'b')).map((r) => JSON.parse(r.json!))).toEqual([{ v: 3 }]);
    const [runRow] = await store.runs('p', 1);
    expect(runRow).toMatchObject({ read: 4, staged: 3, unchanged: 1, status: 'running' });
  });

  test('contentHashes gives the hash the store stages, so a dry run can tell changed from unchanged', async () => {
    const records = [rec('1', 'a', { v: 1, s: 'é 中文 🙂' }), rec('2', 'a', { v: 2 })];
    await store.commit(run, batch(records, 1));
    const staged = await store.stagedHashes('p', 's', ['1', '2']);
    const [same, other, deleted] = await store.contentHashes([records[0]!.json, JSON.stringify({ v: 3 }), null]);
    expect(staged.get('1')).toEqual({ tenant: 'a', hash: same });
    expect(other).not.toBe(staged.get('2')!.hash);
    expect(typeof deleted).toBe('string');
  });

  test('a batch that fails (duplicate keys) leaves neither records nor checkpoint behind', async () => {
    await store.commit(run, batch([rec('1', 'a', { v: 1 })], 1));
    await expect(store.commit(run, batch([rec('2', 'a', { v: 2 }), rec('2', 'a', { v: 3 })], 2))).rejects.toMatchObject({ code: 'SLUICE_SOURCE_DUPLICATE_KEY' });
    expect(await store.checkpoint('p', 's')).toEqual({ at: 1 });
    expect((await readAll(store, 'a')).map((r) => r.key)).toEqual(['1']);
  });

  test('a record that moves to another tenant leaves a tombstone with its old tenant', async () => {
    await store.commit(run, batch([rec('1', 'a', { v: 1 })], 1));
    await store.commit(run, batch([rec('1', 'b', { v: 1 })], 2));
    expect(await readAll(store, 'a')).toEqual([]);
    expect((await readAll(store, 'a', 'delete')).map((r) => r.key)).toEqual(['1']);
    expect((await readAll(store, 'b')).map((r) => r.key)).toEqual(['1']);
    expect(await store.tenants('p')).toEqual(['a', 'b']);
  });

  test('tenants named __proto__ or constructor are counted as tenants, and reach no object\'s prototype', async () => {
    const records = [rec('1', '__proto__', { v: 1 }), rec('2', 'constructor', { v: 2 })];
    const data = [Buffer.from(records.map(encodeCopyRecord).join(''), 'utf8')];
    const loaded = await store.commit(run, { rows: { kind: 'copy', data, count: 2 }, checkpoint: { at: 1 } });
    const merged = await store.commit(run, batch(records.map((r) => ({ ...r, json: '{"v":3}' })), 2));
    for (const counts of [loaded, merged]) {
      expect(Object.entries(counts.byTenant ?? {}).sort()).toEqual([
        ['__proto__', { read: 1, staged: 1 }],
        ['constructor', { read: 1, staged: 1 }],
      ]);
    }
    expect(({} as Record<string, unknown>).read).toBeUndefined();
    expect((await readAll(store, '__proto__')).map((r) => r.key)).toEqual(['1']);
  });

  test('hasChanges: a tenant has changes in a window holding one of its records or tombstones, and only then', async () => {
    await store.commit(run, batch([rec('1', 'a', { v: 1 }), rec('2', 'c', { v: 1 })], 1));
    const first = await store.highWater('p', 's');
    await store.commit(run, batch([rec('1', 'b', { v: 1 })], 2)); // a's record moves to b: a tombstone for a
    const second = await store.highWater('p', 's');
    const window = (afterSeq: number, upToSeq: number) => ({ pipeline: 'p', source: 's', afterSeq, upToSeq });
    expect(await store.hasChanges('c', window(0, first))).toBe(true);
    expect(await store.hasChanges('a', window(0, first))).toBe(false); // its record has moved on since: as an export would see it
    expect(await store.hasChanges('a', window(first, second))).toBe(true); // the tombstone
    expect(await store.hasChanges('b', window(first, second))).toBe(true);
    expect(await store.hasChanges('c', window(first, second))).toBe(false);
    expect(await store.hasChanges('b', window(0, first))).toBe(false);
    expect(await store.hasChanges('a', { ...window(0, second), source: 'nope' })).toBe(false);
  });

  test('reads are per tenant, in change order, and the JSON Lines path returns the same data', async () => {
    const records = Array.from({ length: 30 }, (_, i) => rec(String(i), i % 3 === 0 ? 'x' : 'y', { i, s: 'a,"b"\n😀' }));
    await store.commit(run, batch(records, 1));
    const x = await readAll(store, 'x');
    expect(x.map((r) => r.key)).toEqual(records.filter((r) => r.tenant === 'x').map((r) => r.key));
    expect(x.every((r) => r.tenant === 'x')).toBe(true);
    const seqs = x.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    const chunks: Buffer[] = [];
    for await (const c of store.readJsonLines('x', { pipeline: 'p', source: 's', ...ALL })) chunks.push(c);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(x.map((r) => `${r.json}\n`).join(''));
    const hw = await store.highWater('p', 's');
    const later = [];
    for await (const page of store.read('y', { pipeline: 'p', source: 's', afterSeq: hw, upToSeq: Number.MAX_SAFE_INTEGER, op: 'upsert' })) later.push(...page);
    expect(later).toEqual([]);
  });

  test('COPY-text batches stage the same as record batches', async () => {
    const records = [rec('k\t1', 'tab\\tenant', { note: 'line\nbreak\\' }), rec('k2', 'Ünïcødé', { n: null })];
    const data = [Buffer.from(records.map(encodeCopyRecord).join(''), 'utf8')];
    expect(await store.commit(run, { rows: { kind: 'copy', data, count: 2 }, checkpoint: { at: 9 } })).toMatchObject({ read: 2, staged: 2, unchanged: 0 });
    expect((await readAll(store, 'tab\\tenant'))[0]).toMatchObject({ key: 'k\t1', json: JSON.stringify({ note: 'line\nbreak\\' }) });
    expect(await store.commit(run, batch(records, 10))).toMatchObject({ read: 2, staged: 0, unchanged: 2 });
  });

  test('property: a COPY batch cut anywhere stages each tenant its own records, in source order, with per-tenant counts', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 25 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (rows, cuts) => {
          const r = { ...run, source: `copy${round++}` };
          const records = rows.map(([tenant, note], i) => rec(`k${i}`, tenant, { i, note }));
          const text = Buffer.from(records.map(encodeCopyRecord).join(''), 'utf8');
          const at = [...new Set(cuts.map((c) => c % text.length))].sort((x, y) => x - y);
          const data = [0, ...at].map((from, j) => text.subarray(from, j < at.length ? at[j] : text.length)).filter((b) => b.length > 0);
          const counts = await store.commit(r, { rows: { kind: 'copy', data, count: records.length }, checkpoint: { at: round } });
          expect(counts).toMatchObject({ read: records.length, staged: records.length, unchanged: 0 });
          for (const tenant of ['a', 'b', 'c']) {
            const mine = records.filter((x) => x.tenant === tenant);
            const staged: StagedRecord[] = [];
            for await (const page of store.read(tenant, { pipeline: 'p', source: r.source, ...ALL, op: 'upsert' })) staged.push(...page);
            expect(staged.map((x) => [x.key, x.json])).toEqual(mine.map((x) => [x.key, x.json]));
            expect(counts.byTenant?.[tenant]?.staged ?? 0).toBe(mine.length);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  test('a COPY batch with a NULL tenant or key is refused with its reason, first load or not, and stages nothing', async () => {
    const line = (tenant: string | null, key: string | null) => Buffer.from(`${tenant ?? '\\N'}\t${key ?? '\\N'}\t\\N\t{}\n`, 'utf8');
    const copy = (lines: Buffer[], at: number): Batch => ({ rows: { kind: 'copy', data: lines, count: lines.length }, checkpoint: { at } });
    await expect(store.commit(run, copy([line('a', '1'), line(null, '2')], 1))).rejects.toMatchObject({ code: 'SLUICE_SOURCE_NULL_KEY', context: { key: '2' } });
    await expect(store.commit(run, copy([line('a', null)], 2))).rejects.toMatchObject({ code: 'SLUICE_SOURCE_NULL_KEY' });
    expect(await store.checkpoint('p', 's')).toBeUndefined();
    expect(await readAll(store, 'a')).toEqual([]);
    await store.commit(run, copy([line('a', '1')], 3));
    await expect(store.commit(run, copy([line(null, '9')], 4))).rejects.toMatchObject({ code: 'SLUICE_SOURCE_NULL_KEY' });
    expect((await readAll(store, 'a')).map((r) => r.key)).toEqual(['1']);
  });

  test('intake: a delivery id is staged once; repeats (later or in the same group) change nothing; the checkpoint stays', async () => {
    await store.commit(run, batch([], 7));
    const d = (id: string, key: string, v: number) => ({ id, record: rec(key, 'a', { v }) });
    expect(await store.intake(run, [d('d1', 'k1', 1), d('d2', 'k2', 1), d('d1', 'k1', 9)])).toEqual(['staged', 'staged', 'duplicate']);
    expect(await store.intake(run, [d('d2', 'k2', 5), d('d3', 'k1', 2), d('d4', 'k1', 3)])).toEqual(['duplicate', 'staged', 'staged']);
    // the later of two deliveries for one key wins; the repeat of d2 did not overwrite k2
    expect((await readAll(store, 'a')).map((r) => [r.key, JSON.parse(r.json!).v])).toEqual([
      ['k2', 1],
      ['k1', 3],
    ]);
    expect(await store.checkpoint('p', 's')).toEqual({ at: 7 });
  });

  test('intake: a record pushed again under another tenant leaves a tombstone, and the high water covers both', async () => {
    await store.intake(run, [{ id: 'd1', record: rec('k1', 'a', { v: 1 }) }]);
    await store.intake(run, [{ id: 'd2', record: rec('k1', 'b', { v: 1 }) }]);
    expect(await readAll(store, 'a')).toEqual([]);
    expect((await readAll(store, 'a', 'delete')).map((r) => r.key)).toEqual(['k1']);
    expect((await readAll(store, 'b')).map((r) => r.key)).toEqual(['k1']);
    const seqs = [...(await readAll(store, 'a', 'delete')), ...(await readAll(store, 'b'))].map((r) => r.seq);
    expect(await store.highWater('p', 's')).toBeGreaterThanOrEqual(Math.max(...seqs));
  });

  test('property: batches and intakes in any mix leave a tombstone exactly when, and for the tenant, a record leaves', async () => {
    const TENANTS = ['a', 'b', 'c'];
    const step = fc.record({
      push: fc.boolean(),
      // key → [tenant, value]; small domains, so records stay put, change, move and move back
      records: fc.dictionary(fc.constantFrom('k1', 'k2', 'k3', 'k4'), fc.tuple(fc.constantFrom(...TENANTS), fc.integer({ min: 0, max: 1 })), { minKeys: 1 }),
    });
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const r = { ...run, source: `m${round++}` };
        const tombstones = async () => {
          const out = new Map<string, number>();
          for (const t of TENANTS) {
            for await (const page of store.read(t, { pipeline: 'p', source: r.source, ...ALL, op: 'delete' })) for (const x of page) out.set(`${t}/${x.key}`, x.seq);
          }
          return out;
        };
        const tenantOf = new Map<string, string>();
        let at = 0;
        for (const s of steps) {
          const before = await tombstones();
          const records = Object.entries(s.records).map(([key, [tenant, v]]) => rec(key, tenant, { v }));
          if (s.push) await store.intake(r, records.map((x) => ({ id: `d${round}-${at++}-${x.key}`, record: x })));
          else await store.commit(r, batch(records, ++at));
          const left = new Set(records.filter((x) => tenantOf.has(x.key) && tenantOf.get(x.key) !== x.tenant).map((x) => `${tenantOf.get(x.key)}/${x.key}`));
          for (const x of records) tenantOf.set(x.key, x.tenant);
          const after = await tombstones();
          const renewed = [...after].filter(([id, seq]) => before.get(id) !== seq).map(([id]) => id);
          expect(new Set(renewed)).toEqual(left);
        }
      }),
      { numRuns: 25 },
    );
  });

  test('intake property: for any sequence of groups with repeats and reordering, each delivery id is staged exactly once', async () => {
    const ids = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(ids, { maxLength: 6 }), { maxLength: 6 }), async (groups) => {
        const source = `s${round++}`;
        const r = { ...run, source };
        const seen = new Set<string>();
        let staged = 0;
        for (const group of groups) {
          // each delivery stages its own record (key = delivery id), so staged rows count the ids staged
          const results = await store.intake(r, group.map((id) => ({ id, record: rec(id, 't', { id }) })));
          results.forEach((res, i) => {
            const fresh = !seen.has(group[i]!);
            seen.add(group[i]!);
            expect(res).toBe(fresh ? 'staged' : 'duplicate');
            if (fresh) staged++;
          });
        }
        const rows: StagedRecord[] = [];
        for await (const page of store.read('t', { pipeline: 'p', source, ...ALL, op: 'upsert' })) rows.push(...page);
        expect(rows.map((x) => x.key).sort()).toEqual([...seen].sort());
        expect(rows).toHaveLength(staged);
      }),
      { numRuns: 25 },
    );
  });

  test('the run lock admits one holder at a time', async () => {
    const first = await store.lock('p');
    const other = openStore(url);
    try {
      await expect(other.lock('p')).rejects.toMatchObject({ code: 'SLUICE_LOCKED', kind: 'lock' });
      const different = await other.lock('another-pipeline');
      await different.release();
      await first.release();
      const again = await other.lock('p');
      await again.release();
    } finally {
      await other.close();
    }
  });

  test('a run left running by a dead process is marked abandoned by the next one', async () => {
    await store.startRun('p', 'run-2');
    const runs = await store.runs('p', 5);
    expect(runs.find((r) => r.id === 'run-1')).toMatchObject({ status: 'abandoned' });
    expect(runs.find((r) => r.id === 'run-2')).toMatchObject({ status: 'running' });
  });
});
