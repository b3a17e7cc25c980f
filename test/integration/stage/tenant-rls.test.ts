// Tenant isolation inside PostgreSQL: as the tenant reader role, with a tenant set for the transaction,
// a query with no tenant condition at all sees only that tenant's records and tombstones; with no tenant
// set it sees none. The store's own reads run that way, so a bug that dropped a tenant condition could
// not leak another tenant's record.
import pg from 'pg';
import { TENANT_READER } from '../../../src/stage/migrations/009_tenant_isolation';
import { openStore } from '../../../src/stage/open';
import { describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';

describeWith('postgres', 'row-level security on the staging tables', () => {
  let db: ScratchDb;
  beforeAll(async () => {
    db = await scratchDatabase('postgres');
    const store = openStore(db.url);
    try {
      await store.migrate();
      await store.startRun('p', 'r1');
      const records = ['acme', 'acme', 'globex', 'initech'].map((tenant, i) => ({ tenant, key: String(i), op: 'upsert' as const, cursor: null, json: JSON.stringify({ i }) }));
      await store.commit({ id: 'r1', pipeline: 'p', source: 's' }, { rows: { kind: 'records', records }, checkpoint: {} });
      // key 1 moves from acme to globex: acme keeps a tombstone
      await store.commit({ id: 'r1', pipeline: 'p', source: 's' }, { rows: { kind: 'records', records: [{ ...records[1]!, tenant: 'globex' }] }, checkpoint: {} });
    } finally {
      await store.close();
    }
  }, 60_000);
  afterAll(async () => db?.drop());

  async function asReader(tenant: string | undefined, sql: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${TENANT_READER}`);
      if (tenant !== undefined) await client.query(`SELECT set_config('sluice.tenant', $1, true)`, [tenant]);
      const r = await client.query<{ v: string }>(sql);
      await client.query('ROLLBACK');
      return r.rows.map((x) => x.v).sort();
    } finally {
      await client.end();
    }
  }

  test('only the tenant set for the transaction is visible, whatever the query asks', async () => {
    expect(await asReader('acme', `SELECT tenant || ':' || key AS v FROM sluice_records`)).toEqual(['acme:0']);
    expect(await asReader('globex', `SELECT tenant || ':' || key AS v FROM sluice_records`)).toEqual(['globex:1', 'globex:2']);
    expect(await asReader('acme', `SELECT tenant || ':' || key AS v FROM sluice_tombstones`)).toEqual(['acme:1']);
    expect(await asReader('globex', `SELECT tenant || ':' || key AS v FROM sluice_tombstones`)).toEqual([]);
    expect(await asReader(undefined, `SELECT tenant || ':' || key AS v FROM sluice_records`)).toEqual([]);
    // the reader role may only read
    await expect(asReader('acme', `DELETE FROM sluice_records RETURNING key AS v`)).rejects.toThrow(/permission denied/);
  });

  test('the store reads through it: exports and refine passes of one tenant see only that tenant', async () => {
    const store = openStore(db.url);
    try {
      const keys = async (tenant: string, op: 'upsert' | 'delete') => {
        const out: string[] = [];
        for await (const page of store.read(tenant, { pipeline: 'p', source: 's', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER, op })) out.push(...page.map((r) => r.key));
        return out.sort();
      };
      expect(await keys('acme', 'upsert')).toEqual(['0']);
      expect(await keys('acme', 'delete')).toEqual(['1']);
      expect(await keys('globex', 'upsert')).toEqual(['1', '2']);
      const lines: string[] = [];
      for await (const chunk of store.readJsonLines('initech', { pipeline: 'p', source: 's', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER })) lines.push(chunk.toString());
      expect(lines.join('')).toBe('{"i":3}\n');
    } finally {
      await store.close();
    }
  });

  test('more tenants read at once than the pool has connections, on a fresh store: each finishes (the role check uses the reader\'s own connection)', async () => {
    const store = openStore(db.url);
    try {
      const q = { pipeline: 'p', source: 's', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER, lineage: true };
      const read = async (tenant: string) => {
        const parts: Buffer[] = [];
        for await (const chunk of store.readJsonLines(tenant, q)) parts.push(chunk);
        return Buffer.concat(parts).toString().split('\n').filter(Boolean).length;
      };
      const tenants = ['acme', 'globex', 'initech', 'acme', 'globex', 'initech', 'acme', 'globex'];
      expect(await Promise.all(tenants.map(read))).toEqual([1, 2, 1, 1, 2, 1, 1, 2]);
    } finally {
      await store.close();
    }
  }, 20_000);
});
