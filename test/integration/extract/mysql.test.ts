// The MySQL/MariaDB reader against the real server, driven through the Extractor interface: Chinook,
// keyset resume and ties, composite keys, types that survive, a read-only snapshot, and bad input.
import mysql from 'mysql2/promise';
import type { TenantRule } from '../../../src/config/parts';
import type { Checkpoint, Field, SourceRecord } from '../../../src/core/record';
import { mysqlReader } from '../../../src/extract/read/mysql';
import { chinookUrl, describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';

interface Read {
  fields: Field[];
  batches: { records: SourceRecord[]; checkpoint: Checkpoint }[];
  records: SourceRecord[];
}

type Options = { from?: Checkpoint; tenant?: TenantRule; signal?: AbortSignal; stopAfter?: number };

function readerOf(config: Record<string, unknown>, opts: Options = {}) {
  return mysqlReader.create(mysqlReader.config.parse({ driver: 'mysql', ...config }), {
    pipeline: 'test',
    source: 'src',
    tenant: opts.tenant ?? { value: 't' },
    accepts: ['records'],
    signal: opts.signal ?? new AbortController().signal,
  });
}

/** Opens, reads every batch (or the first `stopAfter`), and closes, as a run does. */
async function read(config: Record<string, unknown>, opts: Options = {}): Promise<Read> {
  const extractor = readerOf(config, opts);
  try {
    const fields = await extractor.open();
    const batches: Read['batches'] = [];
    for await (const b of extractor.extract(opts.from)) {
      if (b.rows.kind !== 'records') throw new Error('the mysql reader yields records');
      batches.push({ records: b.rows.records, checkpoint: b.checkpoint });
      if (batches.length === opts.stopAfter) break;
    }
    return { fields, batches, records: batches.flatMap((b) => b.records) };
  } finally {
    await extractor.close();
  }
}

async function readError(config: Record<string, unknown>, opts: Options = {}): Promise<Error & { code?: string }> {
  try {
    await read(config, opts);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the read to fail');
}

const keysOf = (records: SourceRecord[]) => records.map((r) => r.key);
const sorted = (keys: string[]) => [...keys].sort();

describeWith('mysql', 'mysql reader', () => {
  const chinook = { url: chinookUrl('mysql') };
  let scratch: ScratchDb;
  let db: mysql.Connection;

  beforeAll(async () => {
    scratch = await scratchDatabase('mysql');
    db = await mysql.createConnection(scratch.url);
    await db.query(`SET time_zone = '+00:00'`);
  });
  afterAll(async () => {
    await db.end();
    await scratch.drop();
  });

  test('reads Chinook invoices with their tenant, key, cursor and exact values', async () => {
    const { records, fields } = await read({ ...chinook, table: 'Invoice', key: 'InvoiceId', cursor: 'InvoiceDate' }, { tenant: { column: 'BillingCountry' } });
    expect(records).toHaveLength(412);
    expect(new Set(keysOf(records)).size).toBe(412);
    const first = records.find((r) => r.key === '1')!;
    expect(first).toMatchObject({ tenant: 'Germany', cursor: '2021-01-01 00:00:00', op: 'upsert' });
    expect(JSON.parse(first.json!)).toMatchObject({ InvoiceId: 1, InvoiceDate: '2021-01-01T00:00:00+00:00', Total: '1.98', BillingState: null });
    for (const r of records) expect(JSON.parse(r.json!).InvoiceDate).toMatch(/^\d{4}-\d\d-\d\dT00:00:00\+00:00$/);
    const [countries] = await db.query<mysql.RowDataPacket[]>(`SELECT DISTINCT BillingCountry AS c FROM sluice_chinook.Invoice`);
    expect(new Set(records.map((r) => r.tenant))).toEqual(new Set(countries.map((c) => c.c)));
    expect(fields.find((f) => f.name === 'InvoiceDate')).toEqual({ name: 'InvoiceDate', type: 'string', format: 'date-time', sourceType: 'DATETIME', nullable: false });
    expect(fields.find((f) => f.name === 'Total')).toMatchObject({ type: 'string', format: 'decimal', nullable: false });
    expect(fields.find((f) => f.name === 'InvoiceId')).toMatchObject({ type: 'integer', sourceType: 'INT', nullable: false });
    expect(fields.find((f) => f.name === 'BillingState')).toMatchObject({ type: 'string', nullable: true });
  });

  test('a read resumed from any checkpoint reads every key exactly once', async () => {
    const config = { ...chinook, table: 'Invoice', key: 'InvoiceId', cursor: 'InvoiceDate', batchSize: 7 };
    const all = await read(config);
    expect(all.batches).toHaveLength(Math.ceil(412 / 7));
    expect(all.batches.every((b) => b.records.length <= 7)).toBe(true);
    for (const k of [0, 9, 30, all.batches.length - 2]) {
      const head = all.batches.slice(0, k + 1).flatMap((b) => keysOf(b.records));
      const tail = keysOf((await read(config, { from: all.batches[k]!.checkpoint })).records);
      expect(sorted([...head, ...tail])).toEqual(sorted(keysOf(all.records)));
      expect(new Set([...head, ...tail]).size).toBe(412);
    }
    const past = await read(config, { from: all.batches.at(-1)!.checkpoint });
    expect(past.records).toHaveLength(0);
  });

  test('a full read ends with a checkpoint that starts the next run over, and resumes mid-way', async () => {
    const config = { ...chinook, table: 'Customer', key: 'CustomerId', batchSize: 20 };
    const all = await read(config);
    expect(all.records).toHaveLength(59);
    expect(all.batches.at(-1)).toEqual({ records: [], checkpoint: { mode: 'full', key: null, done: true, order: ['CustomerId'] } });
    expect((await read(config, { from: all.batches.at(-1)!.checkpoint })).records).toHaveLength(59);
    expect((await read(config, { from: all.batches[0]!.checkpoint })).records).toHaveLength(39);
  });

  test('rows sharing a cursor value are neither skipped nor doubled when a read resumes mid-tie', async () => {
    await db.query(`CREATE TABLE ties (id INT PRIMARY KEY, updated_at DATETIME NOT NULL, v TEXT)`);
    const rows = Array.from({ length: 300 }, (_, i) => [i + 1, `2024-01-01 0${(i + 1) % 3}:00:00`, `v${i + 1}`]);
    await db.query(`INSERT INTO ties VALUES ?`, [rows]);
    const config = { url: scratch.url, table: 'ties', key: 'id', cursor: 'updated_at', batchSize: 7 };
    const all = await read(config);
    expect(keysOf(all.records).map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (const k of [0, 5, 14, 20, all.batches.length - 2]) {
      const cp = all.batches[k]!.checkpoint;
      expect(all.batches[k + 1]!.records[0]!.cursor).toBe(cp.cursor); // the cut falls inside a tie
      const head = all.batches.slice(0, k + 1).flatMap((b) => keysOf(b.records));
      const tail = keysOf((await read(config, { from: cp })).records);
      expect(sorted([...head, ...tail])).toEqual(sorted(keysOf(all.records)));
    }
  });

  test('a look-back window re-reads recent rows, for time and numeric cursors', async () => {
    const config = { url: scratch.url, table: 'ties', key: 'id', cursor: 'updated_at', lookback: '90m' };
    const all = await read(config);
    // the last cursor is 02:00; 90 minutes back reaches 00:30, so the 01:00 and 02:00 rows are read again
    expect((await read(config, { from: all.batches.at(-1)!.checkpoint })).records).toHaveLength(200);
    const byId = { url: scratch.url, query: 'SELECT id, id * 10 AS n FROM ties', key: 'id', cursor: 'n', lookback: 25 };
    const ids = await read(byId);
    expect(keysOf((await read(byId, { from: ids.batches.at(-1)!.checkpoint })).records)).toEqual(['298', '299', '300']);
  });

  test('a composite key is a JSON array of the columns as text', async () => {
    const { records, fields } = await read({ ...chinook, table: 'PlaylistTrack', key: ['PlaylistId', 'TrackId'], batchSize: 1000 });
    expect(records).toHaveLength(8715);
    expect(records[0]!.key).toBe('["1","1"]');
    expect(records.every((r) => /^\["\d+","\d+"\]$/.test(r.key))).toBe(true);
    expect(new Set(keysOf(records)).size).toBe(8715);
    expect(fields.map((f) => f.name)).toEqual(['PlaylistId', 'TrackId']);
  });

  test('types survive: bigints, decimals, datetimes, dates, blobs, JSON, bits, unicode', async () => {
    await db.query(`CREATE TABLE kinds (
      id BIGINT PRIMARY KEY, big BIGINT, ubig BIGINT UNSIGNED, exact DECIMAL(30,10), at DATETIME(6), ts TIMESTAMP(3) NULL, day DATE,
      bin BLOB, vbin VARBINARY(8), doc JSON, note TEXT, flags BIT(10), ratio DOUBLE, small INT, kind ENUM('a','b'), missing TEXT)`);
    await db.query(`SET time_zone = '+02:00'`); // TIMESTAMP is stored in UTC: the reader must show it in UTC
    await db.query(
      `INSERT INTO kinds VALUES (9007199254740993, -9007199254740993, 18446744073709551615, 12345678901234567890.1234567890,
        '2021-03-04 05:06:07.123456', '2021-03-04 05:06:07.500', '2021-03-04', x'00ff10', x'', ?, ?, b'101', 0.1, 42, 'b', NULL)`,
      ['{"b": [1, {"c": null}], "a": "x", "n": 9007199254740993}', 'line1\nline2\t中文 😀 \\ back "q"'],
    );
    await db.query(`SET time_zone = '+00:00'`);
    const { records, fields } = await read({ url: scratch.url, table: 'kinds', key: 'id' });
    expect(records[0]!.key).toBe('9007199254740993');
    expect(JSON.parse(records[0]!.json!)).toEqual({
      id: '9007199254740993',
      big: '-9007199254740993',
      ubig: '18446744073709551615',
      exact: '12345678901234567890.1234567890',
      at: '2021-03-04T05:06:07.123456+00:00',
      ts: '2021-03-04T03:06:07.500+00:00',
      day: '2021-03-04',
      bin: Buffer.from([0, 255, 16]).toString('base64'),
      vbin: '',
      doc: { b: [1, { c: null }], a: 'x', n: 9007199254740993 },
      note: 'line1\nline2\t中文 😀 \\ back "q"',
      flags: 5,
      ratio: 0.1,
      small: 42,
      kind: 'b',
      missing: null,
    });
    expect(records[0]!.json).toContain('"doc":{"b": [1, {"c": null}], "a": "x", "n": 9007199254740993}'); // JSON keeps its exact text
    expect(fields.map((f) => [f.name, f.type, f.format ?? null, f.sourceType])).toEqual([
      ['id', 'string', 'int64', 'BIGINT'],
      ['big', 'string', 'int64', 'BIGINT'],
      ['ubig', 'string', 'int64', 'BIGINT UNSIGNED'],
      ['exact', 'string', 'decimal', 'DECIMAL'],
      ['at', 'string', 'date-time', 'DATETIME'],
      ['ts', 'string', 'date-time', 'TIMESTAMP'],
      ['day', 'string', 'date', 'DATE'],
      ['bin', 'string', 'base64', 'BLOB'],
      ['vbin', 'string', 'base64', 'VARBINARY'],
      ['doc', 'json', null, 'JSON'],
      ['note', 'string', null, 'TEXT'],
      ['flags', 'integer', null, 'BIT'],
      ['ratio', 'number', null, 'DOUBLE'],
      ['small', 'integer', null, 'INT'],
      ['kind', 'string', null, 'ENUM'],
      ['missing', 'string', null, 'TEXT'],
    ]);
    // a JSON column found in the metadata of a query too, not only through the table's check constraint
    const viaQuery = await read({ url: scratch.url, query: 'SELECT id, doc FROM kinds', key: 'id' });
    expect(JSON.parse(viaQuery.records[0]!.json!).doc).toEqual({ b: [1, { c: null }], a: 'x', n: 9007199254740993 });
  });

  test('BIGINT and binary keys bind back exactly when a read resumes', async () => {
    await db.query(`CREATE TABLE bigkeys (id BIGINT PRIMARY KEY, b VARBINARY(4) NOT NULL UNIQUE)`);
    await db.query(`INSERT INTO bigkeys VALUES (9007199254740992, x'01'), (9007199254740993, x'02'), (9007199254740994, x'ff')`);
    const first = await read({ url: scratch.url, table: 'bigkeys', key: 'id', batchSize: 1 });
    expect(first.batches[0]!.checkpoint).toMatchObject({ mode: 'full', key: ['9007199254740992'], done: false });
    expect(keysOf((await read({ url: scratch.url, table: 'bigkeys', key: 'id' }, { from: first.batches[0]!.checkpoint })).records)).toEqual([
      '9007199254740993',
      '9007199254740994',
    ]);
    const bin = await read({ url: scratch.url, table: 'bigkeys', key: 'b', batchSize: 1 });
    expect(keysOf(bin.records)).toEqual(['AQ==', 'Ag==', '/w==']);
    expect(keysOf((await read({ url: scratch.url, table: 'bigkeys', key: 'b' }, { from: bin.batches[1]!.checkpoint })).records)).toEqual(['/w==']);
  });

  test('a column named __proto__, which the driver cannot read, is a clear error with the way round it', async () => {
    await db.query('CREATE TABLE proto_names (id INT PRIMARY KEY, `__proto__` TEXT)');
    await db.query(`INSERT INTO proto_names VALUES (1, 'p')`);
    const err = await readError({ url: scratch.url, table: 'proto_names', key: 'id' });
    expect(err).toMatchObject({ code: 'SLUICE_SOURCE_QUERY', context: { hint: expect.stringMatching(/query:.*AS proto/) } });
    expect(err.message).toContain('__proto__');
    const renamed = await read({ url: scratch.url, query: 'SELECT id, `__proto__` AS proto FROM proto_names', key: 'id' });
    expect(renamed.records.map((r) => r.json)).toEqual(['{"id":1,"proto":"p"}']);
  });

  test('the session is read-only: a query that writes fails and writes nothing', async () => {
    await db.query(`CREATE TABLE victims (id INT)`);
    const create = `CREATE FUNCTION sneaky() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO victims VALUES (1); RETURN 1; END`;
    await db.query(create).catch(async (err: { errno?: number }) => {
      // with binary logging on, MariaDB refuses non-deterministic functions unless creators are trusted
      if (err.errno !== 1418) throw err;
      await db.query(`SET GLOBAL log_bin_trust_function_creators = 1`);
      await db.query(create);
    });
    const err = await readError({ url: scratch.url, query: 'SELECT sneaky() AS id', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_QUERY');
    expect(err.message).toMatch(/^test\/src: Cannot execute statement in a READ ONLY transaction.*Sluice never writes/);
    const [rows] = await db.query<mysql.RowDataPacket[]>(`SELECT count(*) AS n FROM victims`);
    expect(rows[0]!.n).toBe(0);
  });

  test('bad input gets a clear error naming the pipeline and source', async () => {
    const missing = await readError({ ...chinook, table: 'Invoice', key: 'InvoiceIdd' });
    expect(missing).toMatchObject({ code: 'SLUICE_SOURCE_COLUMN' });
    expect(missing.message).toMatch(/^test\/src: key column "InvoiceIdd" does not exist; the source has: InvoiceId, CustomerId, InvoiceDate/);
    const cursor = await readError({ ...chinook, table: 'Invoice', key: 'InvoiceId', cursor: 'updated_at' });
    expect(cursor.message).toContain('cursor column "updated_at" does not exist');
    const tenant = await readError({ ...chinook, table: 'Invoice', key: 'InvoiceId' }, { tenant: { column: 'Country' } });
    expect(tenant.message).toContain('tenant column "Country" does not exist');
    const syntax = await readError({ ...chinook, query: 'SELEC * FROM Invoice', key: 'InvoiceId' });
    expect(syntax).toMatchObject({ code: 'SLUICE_SOURCE_QUERY', context: { pipeline: 'test', source: 'src' } });
    expect(syntax.message).toMatch(/^test\/src: You have an error in your SQL syntax.*near '\* FROM Invoice/);
    const table = await readError({ ...chinook, table: 'NoSuchTable', key: 'id' });
    expect(table).toMatchObject({ code: 'SLUICE_SOURCE_QUERY' });
    expect(table.message).toBe("test/src: Table 'sluice_chinook.NoSuchTable' doesn't exist");
    const twice = await readError({ ...chinook, query: 'SELECT InvoiceId, InvoiceId FROM Invoice', key: 'InvoiceId' });
    expect(twice).toMatchObject({ code: 'SLUICE_SOURCE_QUERY' });
    expect(twice.message).toBe("test/src: Duplicate column name 'InvoiceId'");
  });

  test('an unreachable server is named by host and port, without the password', async () => {
    const err = await readError({ url: 'mysql://bob:hunter2@127.0.0.1:1/db', table: 't', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_CONNECT');
    expect(err.message).toMatch(/^test\/src: cannot connect to mysql at 127\.0\.0\.1:1\/db: .*ECONNREFUSED/);
    expect(err.message).not.toContain('hunter2');
  });

  test('duplicate keys are reported before anything is read, not merged', async () => {
    await db.query(`CREATE TABLE dups (id INT, v TEXT)`);
    await db.query(`INSERT INTO dups VALUES (1, 'a'), (2, 'b'), (2, 'c')`);
    const err = await readError({ url: scratch.url, table: 'dups', key: 'id' });
    expect(err.code).toBe('SLUICE_SOURCE_DUPLICATE_KEY');
    expect(err.message).toContain('(2)');
    // a unique index on the key proves it unique without scanning
    await db.query(`CREATE TABLE uniq (a INT NOT NULL, b INT NOT NULL, UNIQUE KEY (a, b))`);
    await db.query(`INSERT INTO uniq VALUES (1, 1), (1, 2)`);
    expect(keysOf((await read({ url: scratch.url, table: 'uniq', key: ['a', 'b'] })).records)).toEqual(['["1","1"]', '["1","2"]']);
  });

  test('NULL cursors are refused rather than silently never read', async () => {
    await db.query(`CREATE TABLE nullable (id INT PRIMARY KEY, at DATETIME NULL)`);
    await db.query(`INSERT INTO nullable VALUES (1, '2024-01-01 00:00:00'), (2, NULL)`);
    const err = await readError({ url: scratch.url, table: 'nullable', key: 'id', cursor: 'at' });
    expect(err).toMatchObject({ code: 'SLUICE_SOURCE_NULL_KEY' });
    expect(err.message).toContain('1 row(s) have NULL in cursor column at');
  });

  test('a consumer that stops early, or a cancelled run, releases the connection at once', async () => {
    const config = { ...chinook, table: 'PlaylistTrack', key: ['PlaylistId', 'TrackId'], batchSize: 10 };
    const started = Date.now();
    const some = await read(config, { stopAfter: 2 });
    expect(some.records).toHaveLength(20);
    expect(Date.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const extractor = readerOf(config, { signal: controller.signal });
    await extractor.open();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const b of extractor.extract()) {
        seen.push(b.rows.kind === 'records' ? b.rows.records.length : 0);
        controller.abort();
      }
    })().then(() => undefined, (e: unknown) => e as { code?: string });
    await extractor.close();
    await extractor.close(); // safe twice
    expect(seen).toEqual([10]);
    expect(err).toMatchObject({ code: 'SLUICE_RUN_CANCELLED' });
    expect((await read({ ...config, batchSize: 5000 })).records).toHaveLength(8715);
  });
});
