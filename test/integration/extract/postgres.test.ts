// The PostgreSQL reader against the real server: Chinook, types that survive, keyset resume and ties,
// a read-only snapshot, and each kind of bad input with a clear error.
import pg from 'pg';
import { chinookUrl, describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';
import { extractAll, extractError } from '../../helpers/extract';
import { readerFor } from '../../../src/extract/registry';

describeWith('postgres', 'postgres reader', () => {
  const chinook = { driver: 'postgres', url: chinookUrl('postgres') };
  let scratch: ScratchDb;
  let client: pg.Client;

  beforeAll(async () => {
    scratch = await scratchDatabase('postgres');
    client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await scratch.drop();
  });

  test('reads Chinook invoices with their tenant, key, cursor and exact values', async () => {
    const { records, fields } = await extractAll({ ...chinook, table: 'invoice', key: 'invoice_id', cursor: 'invoice_date' }, { tenant: { column: 'billing_country' } });
    expect(records).toHaveLength(412);
    expect(new Set(records.map((r) => r.key)).size).toBe(412);
    const first = records.find((r) => r.key === '1')!;
    expect(first.tenant).toBe('Germany');
    expect(first.cursor).toBe('2021-01-01 00:00:00');
    expect(JSON.parse(first.json!)).toMatchObject({ invoice_id: 1, invoice_date: '2021-01-01T00:00:00+00:00', total: '1.98' });
    expect(fields.find((f) => f.name === 'total')).toMatchObject({ type: 'string', format: 'decimal', nullable: false });
  });

  test('a composite key is a JSON array of the columns as text', async () => {
    const { records } = await extractAll({ ...chinook, table: 'playlist_track', key: ['playlist_id', 'track_id'], batchSize: 1000 });
    expect(records).toHaveLength(8715);
    expect(records[0]!.key).toBe('["1","1"]');
    expect(new Set(records.map((r) => r.key)).size).toBe(8715);
  });

  test('types survive: bigints, numerics, timestamps, json, arrays, bytea, unicode', async () => {
    await client.query(`CREATE TABLE kinds (
      id bigint PRIMARY KEY, big bigint, exact numeric(30,10), at timestamp(6), atz timestamptz, day date, bin bytea,
      doc jsonb, raw json, bigs int8[], words text[], note text, flag boolean, ratio float8, uid uuid, missing text)`);
    await client.query(`INSERT INTO kinds VALUES (9007199254740993, -9007199254740993, 12345678901234567890.1234567890,
      '2021-03-04 05:06:07.123456', '2021-03-04 05:06:07.5+02', '2021-03-04', '\\x00ff10', '{"b": [1, {"c": null}], "a": "x"}',
      '{"z": 1, "a": 2}', '{9007199254740993,1}', '{"a,b","say \\"hi\\"",null}', E'line1\\nline2\\t中文 😀 \\\\ back', true, 0.1,
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL)`);
    const { records, fields } = await extractAll({ driver: 'postgres', url: scratch.url, table: 'kinds', key: 'id' });
    expect(records[0]!.key).toBe('9007199254740993');
    expect(JSON.parse(records[0]!.json!)).toEqual({
      id: '9007199254740993',
      big: '-9007199254740993',
      exact: '12345678901234567890.1234567890',
      at: '2021-03-04T05:06:07.123456+00:00',
      atz: '2021-03-04T03:06:07.5+00:00',
      day: '2021-03-04',
      bin: Buffer.from([0, 255, 16]).toString('base64'),
      doc: { a: 'x', b: [1, { c: null }] },
      raw: { z: 1, a: 2 },
      bigs: ['9007199254740993', '1'],
      words: ['a,b', 'say "hi"', null],
      note: 'line1\nline2\t中文 😀 \\ back',
      flag: true,
      ratio: 0.1,
      uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      missing: null,
    });
    expect(records[0]!.json).toContain('"raw":{"z": 1, "a": 2}'); // json keeps its text and key order
    expect(fields.map((f) => [f.name, f.type, f.format ?? null])).toEqual(
      expect.arrayContaining([['id', 'string', 'int64'], ['at', 'string', 'date-time'], ['bin', 'string', 'base64'], ['doc', 'json', null], ['bigs', 'array', null]]),
    );
  });

  test('json written over several lines becomes a record on one line, its strings untouched', async () => {
    await client.query(`CREATE TYPE pair AS (label text, doc json)`);
    await client.query(`CREATE TABLE spread (id int PRIMARY KEY, doc json, docs json[], p pair, note text)`);
    const doc = '{\r\n  "a": 1,\n  "b": "two\\nlines"\n}';
    await client.query(`INSERT INTO spread VALUES (1, $1, ARRAY[$1::json], ROW('x', $1::json), E'a\\nb')`, [doc]);
    const { records } = await extractAll({ driver: 'postgres', url: scratch.url, table: 'spread', key: 'id' });
    expect(records[0]!.json).not.toMatch(/[\r\n]/);
    const parsed = { a: 1, b: 'two\nlines' };
    expect(JSON.parse(records[0]!.json!)).toEqual({ id: 1, doc: parsed, docs: [parsed], p: { label: 'x', doc: parsed }, note: 'a\nb' });
  });

  test('rows sharing a cursor value are neither skipped nor doubled when a read resumes mid-tie', async () => {
    await client.query(`CREATE TABLE ties (id int PRIMARY KEY, updated_at timestamptz NOT NULL, v text)`);
    await client.query(`INSERT INTO ties SELECT g, '2024-01-01'::timestamptz + ((g % 3) || ' hours')::interval, 'v' || g FROM generate_series(1, 300) g`);
    const config = { driver: 'postgres', url: scratch.url, table: 'ties', key: 'id', cursor: 'updated_at', batchSize: 7 };
    const all = await extractAll(config);
    expect(all.records.map((r) => Number(r.key)).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (const cut of [0, 5, 14, all.batches.length - 2]) {
      const head = all.batches.slice(0, cut + 1).flatMap((b) => b.records.map((r) => r.key));
      const tail = (await extractAll(config, { from: all.batches[cut]!.checkpoint })).records.map((r) => r.key);
      expect([...head, ...tail].sort()).toEqual(all.records.map((r) => r.key).sort());
    }
  });

  test('a look-back window re-reads recent rows', async () => {
    const config = { driver: 'postgres', url: scratch.url, table: 'ties', key: 'id', cursor: 'updated_at', lookback: '90m' };
    const all = await extractAll(config);
    const again = await extractAll(config, { from: all.batches.at(-1)!.checkpoint });
    // the last cursor is 02:00; 90 minutes back reaches 00:30, so the 01:00 and 02:00 rows are read again
    expect(again.records).toHaveLength(200);
  });

  test('the session is read-only: a query that writes fails and writes nothing', async () => {
    await client.query(`CREATE TABLE victims (id int)`);
    await client.query(`CREATE FUNCTION sneaky() RETURNS TABLE (id int) AS $$ INSERT INTO victims VALUES (1) RETURNING id $$ LANGUAGE sql`);
    const err = await extractError({ driver: 'postgres', url: scratch.url, query: 'SELECT * FROM sneaky()', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_QUERY');
    expect(err.message).toMatch(/read-only transaction/);
    expect((await client.query('SELECT count(*)::int AS n FROM victims')).rows[0].n).toBe(0);
  });

  test('bad input gets a clear error naming the pipeline and source', async () => {
    const missing = await extractError({ ...chinook, table: 'invoice', key: 'invoice_idd' });
    expect(missing).toMatchObject({ code: 'SLUICE_SOURCE_COLUMN' });
    expect(missing.message).toMatch(/^test\/src: key column "invoice_idd" does not exist; the source has: invoice_id, customer_id/);
    const cursor = await extractError({ ...chinook, table: 'invoice', key: 'invoice_id', cursor: 'updated_at' });
    expect(cursor.message).toContain('cursor column "updated_at" does not exist');
    const syntax = await extractError({ ...chinook, query: 'SELEC * FROM invoice', key: 'invoice_id' });
    expect(syntax).toMatchObject({ code: 'SLUICE_SOURCE_QUERY' });
    expect(syntax.message).toBe('test/src: syntax error at or near "FROM" in the query at character 9: SELEC * ⟶FROM invoice');
    const table = await extractError({ ...chinook, table: 'no_such_table', key: 'id' });
    expect(table.message).toContain('relation "no_such_table" does not exist');
  });

  test('an unreachable server is named by host and port, without the password', async () => {
    const err = await extractError({ driver: 'postgres', url: 'postgres://bob:hunter2@127.0.0.1:1/db', table: 't', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_CONNECT');
    expect(err.message).toMatch(/^test\/src: cannot connect to postgres at 127\.0\.0\.1:1\/db: .*ECONNREFUSED/);
    expect(err.message).not.toContain('hunter2');
  });

  test('duplicate keys are reported before anything is read, not merged', async () => {
    await client.query(`CREATE TABLE dups (id int, v text)`);
    await client.query(`INSERT INTO dups VALUES (1, 'a'), (2, 'b'), (2, 'c')`);
    const err = await extractError({ driver: 'postgres', url: scratch.url, table: 'dups', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_DUPLICATE_KEY');
    expect(err.message).toContain('(2)');
  });

  test('a read stopped after its first batch of a big table closes at once, and the server is free again', async () => {
    await client.query(`CREATE TABLE big AS SELECT g AS id, repeat('x', 1000) AS pad FROM generate_series(1, 50000) g`);
    await client.query(`ALTER TABLE big ADD PRIMARY KEY (id)`);
    const def = readerFor('postgres');
    const extractor = def.create(def.config.parse({ driver: 'postgres', url: scratch.url, table: 'big', key: 'id', batchSize: 100 }), {
      pipeline: 'test',
      source: 'src',
      tenant: { value: 't' },
      accepts: ['copy'],
      signal: new AbortController().signal,
    });
    await extractor.open();
    for await (const batch of extractor.extract()) {
      expect(batch.rows.kind === 'copy' && batch.rows.count).toBe(100);
      break;
    }
    const started = Date.now();
    await extractor.close();
    expect(Date.now() - started).toBeLessThan(5000);
    // the server notices the closed connection when it next writes to it
    const copies = async () =>
      (await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND state = 'active'`)).rows[0].n;
    for (let i = 0; i < 50 && (await copies()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await copies()).toBe(0);
  });

  test('NULL cursors are refused rather than silently never read', async () => {
    await client.query(`CREATE TABLE nullable (id int PRIMARY KEY, at timestamptz)`);
    await client.query(`INSERT INTO nullable VALUES (1, now()), (2, NULL)`);
    const err = await extractError({ driver: 'postgres', url: scratch.url, table: 'nullable', key: 'id', cursor: 'at' });
    expect(err).toMatchObject({ code: 'SLUICE_SOURCE_NULL_KEY' });
    expect(err.message).toContain('1 row(s) have NULL in cursor column at');
  });
});
