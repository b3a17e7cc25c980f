// Two-way sync's state in the staging store, on each backend: links, their bases and the audit events
// come back exactly as committed, whatever JSON they hold (quotes, backslashes, any Unicode, U+0000);
// and on PostgreSQL a run's rewrites of its links stay on their page (heap-only tuples), so the link
// table's indexes do not grow with every run, checked from the server's own counters.
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Json, JsonObject } from '../../../src/core/record';
import { openStore } from '../../../src/stage/open';
import type { StagingStore } from '../../../src/stage/store';
import type { LinkState, LinkWrite, SyncCommit } from '../../../src/stage/sync-store';
import { isUp, scratchDatabase, stagingBackends, type ScratchDb } from '../../helpers/services';

const backends = stagingBackends(() => mkdtempSync(join(tmpdir(), 'sluice-sync-store-')), 'sync store');

/** JSON as it reads back: what JSON.stringify writes (-0 is 0). */
const normal = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const jsonObject = fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) as fc.Arbitrary<JsonObject>;
const record = fc.record({
  baseA: jsonObject,
  baseB: fc.option(jsonObject, { nil: null }),
  next: jsonObject,
  changes: fc.dictionary(fc.string({ unit: 'binary' }), fc.tuple(fc.jsonValue({ maxDepth: 1 }), fc.jsonValue({ maxDepth: 1 })), { maxKeys: 3 }) as fc.Arbitrary<Record<string, [Json, Json]>>,
});

describe.each(backends)('%s sync store', (_name, make) => {
  let store: StagingStore;
  let done: () => Promise<void>;
  let pipelines = 0;
  beforeAll(async () => {
    const made = await make();
    done = made.done;
    store = openStore(made.url);
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await done?.();
  });

  test('links, bases and events come back exactly as committed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 12 }), async (records) => {
        const state = store.sync(`p${++pipelines}`);
        const links: LinkWrite[] = records.map((r, i) => ({ ref: `r${i}`, aKey: `a${i}`, bKey: `b${i}`, baseA: r.baseA, baseB: r.baseB, state: 'linked', intent: null }));
        const events: SyncCommit['events'] = records.map((r, i) => ({ linkId: `r${i}`, aKey: `a${i}`, bKey: `b${i}`, side: 'a', action: 'changed', changes: r.changes, decidedBy: null }));
        const ids = await state.commit('run-1', { links, events });
        const made = await state.links('a', records.map((_, i) => `a${i}`));
        records.forEach((r, i) => {
          expect(made.get(`a${i}`)).toEqual({ id: ids.get(`r${i}`), aKey: `a${i}`, bKey: `b${i}`, baseA: normal(r.baseA), baseB: normal(r.baseB), state: 'linked', intent: null });
        });
        // a second commit rewrites every link: the new bases (and a create's intent) replace the old
        const rewritten: LinkWrite[] = records.map((r, i) => ({ id: ids.get(`r${i}`)!, aKey: `a${i}`, bKey: `b${i}`, baseA: r.next, baseB: r.baseA, state: 'creating_b', intent: { ref: `x${i}`, values: r.next } }));
        await state.commit('run-2', { links: rewritten });
        const after = await state.links('b', records.map((_, i) => `b${i}`));
        records.forEach((r, i) => {
          expect(after.get(`b${i}`)).toEqual({ id: ids.get(`r${i}`), aKey: `a${i}`, bKey: `b${i}`, baseA: normal(r.next), baseB: normal(r.baseA), state: 'creating_b', intent: normal({ ref: `x${i}`, values: r.next }) });
        });
        for (const [i, r] of records.entries()) {
          const [event] = await state.events({ key: `a${i}`, side: 'a', limit: 10 });
          expect(event).toMatchObject({ run: 'run-1', linkId: ids.get(`r${i}`), side: 'a', action: 'changed', changes: normal(r.changes) });
        }
      }),
      { numRuns: 25 },
    );
  });

  // A record still in conflict is queued again by each run: its one open entry takes the new values
  // (whatever JSON they hold), and a later commit closes it.
  test('property: queue entries are refreshed in place, then closed', async () => {
    const values = fc.record({ base: fc.record({ a: fc.option(jsonObject, { nil: null }), b: fc.constant(null) }), a: jsonObject, b: fc.option(jsonObject, { nil: null }) });
    const entry = fc.record({ fields: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), values, detail: fc.option(fc.string({ unit: 'binary', maxLength: 20 }).filter((t) => !t.includes('\u0000')), { nil: null }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(entry, entry), { minLength: 1, maxLength: 6 }), fc.constantFrom('applied' as const, 'obsolete' as const), async (pairs, closing) => {
        const state = store.sync(`p${++pipelines}`);
        const links: LinkWrite[] = pairs.map((_, i) => ({ ref: `r${i}`, aKey: `a${i}`, bKey: `b${i}`, baseA: null, baseB: null, state: 'linked', intent: null }));
        const queued = (i: number, e: (typeof pairs)[number][number], linkId: number | string | null) => ({ linkId, aKey: `a${i}`, bKey: `b${i}`, reason: 'conflict' as const, ...e });
        const ids = await state.commit('run-1', { links, queue: pairs.map(([first], i) => queued(i, first, `r${i}`)) });
        const opened = await state.conflicts({ status: ['open'] });
        await state.commit('run-2', { queue: pairs.map(([, second], i) => queued(i, second, ids.get(`r${i}`)!)) });
        const refreshed = await state.conflicts({ status: ['open'] });
        expect(refreshed.map((c) => c.id).sort()).toEqual(opened.map((c) => c.id).sort());
        for (const [i, [, second]] of pairs.entries()) {
          expect(refreshed.find((c) => c.linkId === ids.get(`r${i}`))).toMatchObject({ reason: 'conflict', fields: second.fields, values: normal(second.values), detail: second.detail });
        }
        await state.commit('run-3', { close: refreshed.map((c) => ({ id: c.id, status: closing })) });
        expect(await state.conflicts({ status: ['open'] })).toEqual([]);
        expect((await state.conflicts({ status: [closing] })).map((c) => c.id).sort()).toEqual(opened.map((c) => c.id).sort());
      }),
      { numRuns: 20 },
    );
  });

  // The counts a run asks before looking for deletes are kept by the commits, not counted: after any
  // mix of new links, rewrites (a link twice in one commit, one already gone) and drops they are
  // what counting the links gives.
  test('property: the link counts kept by the commits equal the links counted', async () => {
    const states: LinkState[] = ['linked', 'creating_a', 'creating_b', 'gone_a', 'gone_b'];
    const shape = { state: fc.constantFrom(...states), a: fc.boolean(), b: fc.boolean() };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('make' as const), ...shape }),
      fc.record({ kind: fc.constant('rewrite' as const), pick: fc.nat(), ...shape }),
      fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 8 }), { minLength: 1, maxLength: 6 }), async (commits) => {
        const state = store.sync(`p${++pipelines}`);
        const ids: number[] = [];
        let n = 0;
        const key = (side: string, present: boolean) => (present ? `${side}${n++}` : null);
        for (const [c, ops] of commits.entries()) {
          const links: LinkWrite[] = [];
          const dropLinks: number[] = [];
          for (const o of ops) {
            const link = o.kind === 'drop' ? undefined : { aKey: key('a', o.a), bKey: key('b', o.b), baseA: null, baseB: null, state: o.state, intent: null };
            if (o.kind === 'make') links.push({ ref: `r${c}-${links.length}`, ...link! });
            else if (ids.length > 0 && o.kind === 'rewrite') links.push({ id: ids[o.pick % ids.length]!, ...link! });
            else if (ids.length > 0 && o.kind === 'drop') dropLinks.push(ids[o.pick % ids.length]!);
          }
          ids.push(...(await state.commit(`run-${c}`, { links, dropLinks })).values());
          const all = await state.linkKeys(0, 1_000_000);
          const linked = all.filter((l) => l.state === 'linked');
          expect(await state.linkCounts()).toEqual({ linked: linked.length, a: linked.filter((l) => l.aKey !== null).length, b: linked.filter((l) => l.bKey !== null).length });
        }
      }),
      { numRuns: 40 },
    );
  });
});

const LINKS = 400;

const base = (i: number, round: number) => ({ email: `person${i}@example.com`, full_name: `Person ${i} round ${round}`, note: 'x'.repeat(120) });

/** The table's update counters, once the closed store's backends have reported them (they do so on exit). */
async function updateCounts(url: string, expected: number): Promise<{ updated: number; inPlace: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let waited = 0; ; waited += 100) {
      const r = await client.query<{ upd: string; hot: string }>(`SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'sluice_sync_links'`);
      const counts = { updated: Number(r.rows[0]?.upd ?? 0), inPlace: Number(r.rows[0]?.hot ?? 0) };
      if (counts.updated >= expected || waited >= 5000) return counts;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await client.end();
  }
}

if (isUp('postgres')) {
  describe('sync links on the PostgreSQL store', () => {
    let db: ScratchDb;
    beforeAll(async () => {
      db = await scratchDatabase('postgres');
    });
    afterAll(async () => {
      await db?.drop();
    });

    test('rewritten links stay in place', async () => {
      const store = openStore(db.url);
      try {
        await store.migrate();
        const state = store.sync('p');
        const fresh: LinkWrite[] = Array.from({ length: LINKS }, (_, i) => ({ ref: `r${i}`, aKey: String(i), bKey: `c${i}`, baseA: base(i, 0), baseB: base(i, 0), state: 'linked', intent: null }));
        const ids = await state.commit('run-0', { links: fresh });
        // one rewrite of every link: its new version fits in the room the fill left, whatever else the
        // server is doing (a second rewrite would need the first one's old versions pruned, which waits
        // for every older snapshot on the server)
        const rewritten: LinkWrite[] = Array.from({ length: LINKS }, (_, i) => ({ id: ids.get(`r${i}`)!, aKey: String(i), bKey: `c${i}`, baseA: base(i, 1), baseB: base(i, 1), state: 'linked', intent: null }));
        await state.commit('run-1', { links: rewritten });
      } finally {
        await store.close();
      }
      const counts = await updateCounts(db.url, LINKS);
      expect(counts.updated).toBe(LINKS);
      // a page filled to the brim has room for no second version: nearly every update would touch all four indexes
      expect(counts.inPlace / counts.updated).toBeGreaterThanOrEqual(0.9);
    });
  });
}
