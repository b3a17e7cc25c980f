// A sync run rewrites the links of every record it carried. On PostgreSQL those rewrites stay on their
// page (heap-only tuples), so the link table's indexes do not grow with every run: checked from the
// server's own counters after three rounds of base updates.
import pg from 'pg';
import { openStore } from '../../../src/stage/open';
import type { LinkWrite } from '../../../src/stage/sync-store';
import { isUp, scratchDatabase, serviceStatus, type ScratchDb } from '../../helpers/services';

const LINKS = 400;
const ROUNDS = 3;

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

    test('rewritten links stay in place, and hold the last bases written', async () => {
      const store = openStore(db.url);
      let ids: Map<string, number>;
      try {
        await store.migrate();
        const state = store.sync('p');
        const fresh: LinkWrite[] = Array.from({ length: LINKS }, (_, i) => ({ ref: `r${i}`, aKey: String(i), bKey: `c${i}`, baseA: base(i, 0), baseB: base(i, 0), state: 'linked', intent: null }));
        ids = await state.commit('run-0', { links: fresh });
        for (let round = 1; round <= ROUNDS; round++) {
          const links: LinkWrite[] = Array.from({ length: LINKS }, (_, i) => ({ id: ids.get(`r${i}`)!, aKey: String(i), bKey: `c${i}`, baseA: base(i, round), baseB: base(i, round), state: 'linked', intent: null }));
          await state.commit(`run-${round}`, { links });
        }
        const read = await state.links('a', ['0', String(LINKS - 1)]);
        expect(read.get('0')?.baseA).toEqual(base(0, ROUNDS));
        expect(read.get(String(LINKS - 1))?.baseB).toEqual(base(LINKS - 1, ROUNDS));
      } finally {
        await store.close();
      }
      const counts = await updateCounts(db.url, LINKS * ROUNDS);
      expect(counts.updated).toBe(LINKS * ROUNDS);
      // a page filled to the brim has room for no second version: nearly every update would touch all four indexes
      expect(counts.inPlace / counts.updated).toBeGreaterThanOrEqual(0.9);
    });
  });
} else {
  test.skip(`sync links on the PostgreSQL store [skipped: postgres ${serviceStatus('postgres')}]`, () => undefined);
}
