// Keyset reading with ties. However many rows share a cursor value, with a single or a composite key
// and any batch size, a read yields every row exactly once in batches of exactly `batchSize`; and a
// read resumed from any batch's checkpoint (even with another batch size) yields exactly the rows
// after that batch, in the same order — so what was read before plus what is read after is every row
// exactly once. For each SQL reader that is registered and whose server is up.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { decodeCopyLines } from '../../src/core/copy-text';
import type { Batch, Checkpoint } from '../../src/core/record';
import { READERS, readerFor } from '../../src/extract/registry';
import { dropScratch, duplicates, tempDir, type TempDir } from '../helpers/prop-support';
import { isUp, scratchDatabase, serviceStatus, type Service } from '../helpers/services';

type Driver = 'sqlite' | 'postgres' | 'mysql';
type KeyKind = 'single' | 'composite';
type CursorKind = 'integer' | 'timestamp';

interface Case {
  keyKind: KeyKind;
  cursorKind: CursorKind;
  /** key column values: `[id]` or `[a, b]` */
  keys: [number] | [number, string];
  cursor: number;
}

/** Distinct cursor values (1 to 3 of them) as seconds, with a fraction sometimes. */
const cursorValues = fc.uniqueArray(fc.integer({ min: 0, max: 10_000_000 }).map((s) => s / (s % 3 === 0 ? 1 : 1000)), { minLength: 1, maxLength: 3 });

/** Text key parts that differ in case, accents, width and punctuation, so collations get a say in the order. */
const keyText = fc.string({ unit: fc.constantFrom('a', 'b', 'A', 'é', 'ß', '-', '_', '1', '中', 'z'), minLength: 1, maxLength: 3 });

const tableArb = fc
  .record({
    keyKind: fc.constantFrom<KeyKind>('single', 'composite'),
    cursorKind: fc.constantFrom<CursorKind>('integer', 'timestamp'),
    cursors: cursorValues,
    rows: fc.array(fc.record({ id: fc.integer({ min: -1_000_000, max: 1_000_000 }), a: fc.integer({ min: 0, max: 4 }), b: keyText, pick: fc.nat() }), {
      minLength: 1,
      maxLength: 400,
      size: 'max', // lengths spread over the whole range, not just the small ones
    }),
  })
  .map(({ keyKind, cursorKind, cursors, rows }): Case[] =>
    rows.map((r) => ({
      keyKind,
      cursorKind,
      keys: keyKind === 'single' ? [r.id] : [r.a, r.b],
      cursor: cursors[r.pick % cursors.length]!,
    })),
  );

/** Seconds → `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC). */
function timestampText(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const text = new Date(Date.UTC(2021, 0, 1) + ms).toISOString().replace('T', ' ').replace('Z', '');
  return ms % 1000 === 0 ? text.slice(0, 19) : `${text}000`;
}

const cursorValue = (c: Case) => (c.cursorKind === 'integer' ? Math.round(c.cursor) : timestampText(c.cursor));

/** The staged key text of a row's key values: one column's text, or a JSON array of the texts. */
const stagedKey = (parts: readonly unknown[]) => (parts.length === 1 ? String(parts[0]) : JSON.stringify(parts.map(String)));

interface SourceDb {
  url: string;
  /** Creates the table (duplicate keys under the database's collation are dropped) and returns its keys as staged. */
  load(table: string, cases: Case[]): Promise<string[]>;
  close(): Promise<void>;
}

function columnsOf(c: Case): { ddl: string; names: string[] } {
  return c.keyKind === 'single' ? { ddl: 'id INTEGER NOT NULL', names: ['id'] } : { ddl: 'a INTEGER NOT NULL, b VARCHAR(20) NOT NULL', names: ['a', 'b'] };
}

async function sqliteSource(dir: string): Promise<SourceDb> {
  const file = `${dir}/ties.db`;
  const db = new Database(file);
  return {
    url: `sqlite:${file}`,
    async load(table, cases) {
      const { ddl, names } = columnsOf(cases[0]!);
      const cursorType = cases[0]!.cursorKind === 'integer' ? 'INTEGER' : 'DATETIME';
      db.exec(`CREATE TABLE ${table} (${ddl}, updated_at ${cursorType} NOT NULL, note TEXT, PRIMARY KEY (${names.join(', ')}))`);
      const insert = db.prepare(`INSERT OR IGNORE INTO ${table} VALUES (${names.map(() => '?').join(', ')}, ?, 'x')`);
      db.transaction(() => cases.forEach((c) => insert.run(...c.keys, cursorValue(c))))();
      const rows = db.prepare(`SELECT ${names.join(', ')} FROM ${table}`).raw().all() as unknown[][];
      return rows.map(stagedKey);
    },
    async close() {
      db.close();
    },
  };
}

async function postgresSource(): Promise<SourceDb> {
  const scratch = await scratchDatabase('postgres');
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  return {
    url: scratch.url,
    async load(table, cases) {
      const { ddl, names } = columnsOf(cases[0]!);
      const cursorType = cases[0]!.cursorKind === 'integer' ? 'integer' : 'timestamptz';
      await client.query(`CREATE TABLE ${table} (${ddl}, updated_at ${cursorType} NOT NULL, note text, PRIMARY KEY (${names.join(', ')}))`);
      const width = names.length + 1;
      const values = cases.map((_, i) => `(${Array.from({ length: width }, (__, j) => `$${i * width + j + 1}`).join(', ')}, 'x')`);
      await client.query(
        `INSERT INTO ${table} VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`,
        cases.flatMap((c) => [...c.keys, c.cursorKind === 'integer' ? cursorValue(c) : `${cursorValue(c)}+00`]),
      );
      const rows = await client.query({ text: `SELECT ${names.map((n) => `${n}::text`).join(', ')} FROM ${table}`, rowMode: 'array' });
      return (rows.rows as unknown[][]).map(stagedKey);
    },
    async close() {
      await client.end();
      await dropScratch(scratch);
    },
  };
}

async function mysqlSource(): Promise<SourceDb> {
  const scratch = await scratchDatabase('mysql');
  const conn = await mysql.createConnection({ uri: scratch.url, timezone: 'Z', dateStrings: true });
  return {
    url: scratch.url,
    async load(table, cases) {
      const { ddl, names } = columnsOf(cases[0]!);
      const cursorType = cases[0]!.cursorKind === 'integer' ? 'INTEGER' : 'DATETIME(6)';
      await conn.query(`CREATE TABLE ${table} (${ddl}, updated_at ${cursorType} NOT NULL, note TEXT, PRIMARY KEY (${names.join(', ')}))`);
      await conn.query(`INSERT IGNORE INTO ${table} VALUES ?`, [cases.map((c) => [...c.keys, cursorValue(c), 'x'])]);
      const [rows] = await conn.query({ sql: `SELECT ${names.map((n) => `CAST(${n} AS CHAR)`).join(', ')} FROM ${table}`, rowsAsArray: true });
      return (rows as unknown[][]).map(stagedKey);
    },
    async close() {
      await conn.end();
      await scratch.drop();
    },
  };
}

interface Read {
  batches: { keys: string[]; checkpoint: Checkpoint }[];
  keys: string[];
}

const keysOf = (batch: Batch) =>
  (batch.rows.kind === 'records' ? batch.rows.records : decodeCopyLines(batch.rows.data)).map((r) => r.key);

/** Reads the source through the reader's interface, as a run does, from `from` (or the beginning). */
async function read(driver: Driver, url: string, table: string, c: Case, batchSize: number, from?: Checkpoint): Promise<Read> {
  const def = readerFor(driver);
  const config = def.config.parse({ driver, url, table, key: columnsOf(c).names, cursor: 'updated_at', batchSize });
  const extractor = def.create(config, {
    pipeline: 'ties',
    source: table,
    tenant: { value: 't' },
    accepts: ['copy', 'records'],
    signal: new AbortController().signal,
  });
  try {
    await extractor.open();
    const batches: Read['batches'] = [];
    for await (const b of extractor.extract(from)) batches.push({ keys: keysOf(b), checkpoint: b.checkpoint });
    return { batches, keys: batches.flatMap((b) => b.keys) };
  } finally {
    await extractor.close();
  }
}

const registered = READERS.map((r) => r.kind as string);
const SERVICE: Record<Driver, Service | undefined> = { sqlite: undefined, postgres: 'postgres', mysql: 'mysql' };
const drivers = (['sqlite', 'postgres', 'mysql'] as const).filter((d) => {
  if (!registered.includes(d)) return false;
  const service = SERVICE[d];
  if (service && !isUp(service)) {
    test.skip(`${d} reader [skipped: ${service} ${serviceStatus(service)}]`, () => undefined);
    return false;
  }
  return true;
});

describe.each(drivers)('%s reader: rows that share cursor values', (driver) => {
  let tmp: TempDir;
  let source: SourceDb;
  let counter = 0;

  beforeAll(async () => {
    tmp = tempDir('ties');
    source = driver === 'sqlite' ? await sqliteSource(tmp.path) : driver === 'postgres' ? await postgresSource() : await mysqlSource();
  });
  afterAll(async () => {
    await source?.close();
    tmp?.remove();
  }, 60_000);

  test('are read exactly once, and exactly once again when resumed from any checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        tableArb,
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        async (cases, batchSize, resumeBatchSize, picks) => {
          const table = `ties_${++counter}`;
          const expected = await source.load(table, cases);
          const whole = await read(driver, source.url, table, cases[0]!, batchSize);

          expect(duplicates(whole.keys)).toEqual([]);
          expect(new Set(whole.keys)).toEqual(new Set(expected));
          expect(whole.keys).toHaveLength(expected.length);
          // every batch is full but the last
          expect(whole.batches.map((b) => b.keys.length)).toEqual(
            Array.from({ length: Math.ceil(expected.length / batchSize) }, (_, i) => Math.min(batchSize, expected.length - i * batchSize)),
          );

          // resume after the first batch, the last one, and a few in between
          const last = whole.batches.length - 1;
          const points = [...new Set([0, last, ...picks.map((p) => p % whole.batches.length)])];
          for (const i of points) {
            const before = whole.batches.slice(0, i + 1).flatMap((b) => b.keys);
            const after = await read(driver, source.url, table, cases[0]!, resumeBatchSize, whole.batches[i]!.checkpoint);
            expect({ resumedAfterBatch: i, keys: after.keys }).toEqual({ resumedAfterBatch: i, keys: whole.keys.slice(before.length) });
            expect(duplicates([...before, ...after.keys])).toEqual([]);
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 150_000);
});
