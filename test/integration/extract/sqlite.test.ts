// The SQLite reader: Chinook from the embedded file, values that survive, keyset resume with ties,
// a read-only handle, and bad input with clear errors.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { extractAll, extractError } from '../../helpers/extract';

const chinook = { driver: 'sqlite', url: join(__dirname, '..', '..', '..', 'fixtures', 'chinook', 'chinook.sqlite') };
const dir = mkdtempSync(join(tmpdir(), 'sluice-sqlite-'));
const file = join(dir, 'source.db');
const db = new Database(file);
afterAll(() => db.close());

test('reads Chinook invoices with tenants, ISO timestamps and numbers', async () => {
  const { records, fields } = await extractAll({ ...chinook, table: 'Invoice', key: 'InvoiceId', cursor: 'InvoiceDate' }, { tenant: { column: 'BillingCountry' } });
  expect(records).toHaveLength(412);
  const first = records.find((r) => r.key === '1')!;
  expect(first).toMatchObject({ tenant: 'Germany', cursor: '2021-01-01 00:00:00' });
  expect(JSON.parse(first.json!)).toMatchObject({ InvoiceId: 1, InvoiceDate: '2021-01-01T00:00:00+00:00', Total: 1.98 });
  expect(fields.find((f) => f.name === 'InvoiceDate')).toMatchObject({ type: 'string', format: 'date-time', nullable: false });
});

test('values survive: big integers, blobs, unicode, NULL vs empty string', async () => {
  db.exec(`CREATE TABLE kinds (id INTEGER PRIMARY KEY, big INTEGER, bin BLOB, note TEXT, empty TEXT, absent TEXT, ratio REAL, at DATETIME, odd DATETIME)`);
  db.prepare(`INSERT INTO kinds VALUES (?, ?, ?, ?, '', NULL, 0.1, '2021-03-04 05:06:07.5', 'not a date')`).run(1, 9007199254740993n, Buffer.from([0, 255]), 'a,"b"\n中文 😀');
  const { records } = await extractAll({ driver: 'sqlite', url: file, table: 'kinds', key: 'id' });
  expect(JSON.parse(records[0]!.json!)).toEqual({
    id: 1,
    big: '9007199254740993',
    bin: Buffer.from([0, 255]).toString('base64'),
    note: 'a,"b"\n中文 😀',
    empty: '',
    absent: null,
    ratio: 0.1,
    at: '2021-03-04T05:06:07.5+00:00',
    odd: 'not a date',
  });
});

test('columns named like Object members (__proto__, constructor) are read like any other', async () => {
  db.exec(`CREATE TABLE odd_names (id INTEGER PRIMARY KEY, "__proto__" TEXT, "constructor" TEXT, "toString" INTEGER)`);
  db.prepare(`INSERT INTO odd_names VALUES (1, 'p', 'c', 7), (2, NULL, NULL, NULL)`).run();
  const { records } = await extractAll({ driver: 'sqlite', url: file, table: 'odd_names', key: 'id' });
  expect(records.map((r) => r.json)).toEqual(['{"id":1,"__proto__":"p","constructor":"c","toString":7}', '{"id":2,"__proto__":null,"constructor":null,"toString":null}']);
});

test('rows sharing a cursor value survive any resume point', async () => {
  db.exec(`CREATE TABLE ties (a INTEGER, b TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (a, b))`);
  const insert = db.prepare(`INSERT INTO ties VALUES (?, ?, ?)`);
  for (let i = 0; i < 120; i++) insert.run(i % 10, `k${i}`, `2024-01-0${1 + (i % 2)} 00:00:00`);
  const config = { driver: 'sqlite', url: file, table: 'ties', key: ['a', 'b'], cursor: 'updated_at', batchSize: 7 };
  const all = await extractAll(config);
  const keys = all.records.map((r) => r.key).sort();
  expect(new Set(keys).size).toBe(120);
  for (let cut = 0; cut < all.batches.length; cut += 3) {
    const head = all.batches.slice(0, cut + 1).flatMap((b) => b.records.map((r) => r.key));
    const tail = (await extractAll(config, { from: all.batches[cut]!.checkpoint })).records.map((r) => r.key);
    expect([...head, ...tail].sort()).toEqual(keys);
  }
});

test('a full read ends with a checkpoint that makes the next run start over, and resumes mid-way after a crash', async () => {
  const config = { ...chinook, table: 'Customer', key: 'CustomerId', batchSize: 20 };
  const all = await extractAll(config);
  expect(all.records).toHaveLength(59);
  expect(all.batches.at(-1)!.checkpoint).toEqual({ mode: 'full', key: null, done: true, order: ['CustomerId'] });
  expect((await extractAll(config, { from: all.batches.at(-1)!.checkpoint })).records).toHaveLength(59);
  expect((await extractAll(config, { from: all.batches[0]!.checkpoint })).records).toHaveLength(39);
});

test('a query that tries to write fails and changes nothing', async () => {
  const before = db.prepare('SELECT count(*) FROM ties').pluck().get();
  const err = await extractError({ driver: 'sqlite', url: file, query: 'DELETE FROM ties RETURNING *', key: ['a', 'b'] });
  expect(err).toMatchObject({ code: 'SLUICE_SOURCE_QUERY' });
  expect(db.prepare('SELECT count(*) FROM ties').pluck().get()).toBe(before);
});

test('bad input: missing file, missing column, bad query, duplicate keys', async () => {
  expect(await extractError({ driver: 'sqlite', url: join(dir, 'nope.db'), table: 't', key: 'id' })).toMatchObject({ code: 'SLUICE_SOURCE_CONNECT' });
  expect(await extractError({ ...chinook, table: 'Invoice', key: 'Id' })).toMatchObject({ code: 'SLUICE_SOURCE_COLUMN' });
  const bad = await extractError({ ...chinook, query: 'SELECT * FROM Nope', key: 'id' });
  expect(bad).toMatchObject({ code: 'SLUICE_SOURCE_QUERY' });
  expect(bad.message).toBe('test/src: no such table: Nope');
  db.exec(`CREATE TABLE dups (id INTEGER, v TEXT); INSERT INTO dups VALUES (1, 'a'), (1, 'b')`);
  expect(await extractError({ driver: 'sqlite', url: file, table: 'dups', key: 'id' })).toMatchObject({ code: 'SLUICE_SOURCE_DUPLICATE_KEY' });
});
