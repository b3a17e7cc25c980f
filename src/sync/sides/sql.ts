/**
 * The three SQL databases a table side writes to, behind one small interface: parameterised statements,
 * a transaction with savepoints, and rows read back in the spelling the read extractors use (times
 * ISO-8601 with an offset, big integers and decimals exact, binary as base64), so a value Sluice wrote
 * and read back compares equal to the same value read by the change feed.
 */
import Database from 'better-sqlite3';
import type { Connection as MysqlConnection, FieldPacket, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { isoDateTime } from '../../core/convert';
import { parseLossless, stringifyLossless } from '../../core/json-text';
import { MYSQL_READ_OPTIONS } from '../../core/mysql-options';
import type { JsonObject } from '../../core/record';

export interface SqlSession {
  /** Rows of a SELECT (or of a statement with RETURNING) as plain JSON objects. */
  rows(sql: string, params?: readonly unknown[]): Promise<JsonObject[]>;
  /** A statement without rows; `insertId` for an INSERT into a table with an auto-increment key. */
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number; insertId?: string }>;
}

export interface SqlDatabase extends SqlSession {
  /** Rows of a SELECT as the driver gives them (no row JSON): for Sluice's own tables. */
  rawRows(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  readonly driver: 'postgres' | 'mysql' | 'sqlite';
  quote(name: string): string;
  /** The bind placeholder of the i-th parameter (1-based). */
  param(i: number): string;
  /** Whether INSERT/UPDATE … RETURNING gives the written row back. */
  readonly returning: boolean;
  /** The SQL that selects whole rows of `table` aliased `s` (the part before WHERE). */
  selectRows(table: string): string;
  /** The SQL that selects only these columns of `table` aliased `s` (the part before WHERE). */
  selectColumns(table: string, columns: readonly string[]): string;
  /** What RETURNING lists to give the written row back (with `returning`). */
  returningRow(alias: string): string;
  /** An expression for the current time, for `touch`. */
  readonly now: string;
  columns(table: string): Promise<string[]>;
  /** Each column's type as the database names it, where statements need casts (PostgreSQL); else empty. */
  columnTypes(table: string): Promise<Map<string, string>>;
  /** Whether INSERT … RETURNING gives every row of a many-row insert back (PostgreSQL, SQLite, MariaDB). */
  readonly insertReturning: boolean;
  transaction<T>(work: (s: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function connectSql(driver: 'postgres' | 'mysql' | 'sqlite', url: string): Promise<SqlDatabase> {
  if (driver === 'postgres') return PostgresDb.connect(url);
  if (driver === 'mysql') return MysqlDb.connect(url);
  return new SqliteDb(url);
}

const tableParts = (table: string) => table.split('.');

/** A connection's own transaction around `work`: committed when it returns, rolled back when it throws. */
async function inTransaction<T>(s: SqlSession, begin: string, work: (s: SqlSession) => Promise<T>): Promise<T> {
  await s.run(begin);
  try {
    const out = await work(s);
    await s.run('COMMIT');
    return out;
  } catch (err) {
    await s.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

class PostgresDb implements SqlDatabase {
  readonly driver = 'postgres';
  readonly returning = true;
  readonly now = 'clock_timestamp()';

  private constructor(private readonly client: pg.Client) {}

  static async connect(url: string): Promise<PostgresDb> {
    const client = new pg.Client({ connectionString: url, application_name: 'sluice-sync' });
    client.on('error', () => undefined); // a dropped connection surfaces through the pending query instead
    await client.connect();
    // as the reader: times in UTC, so row_to_json spells them with +00:00; `sluice.writing` tells the
    // change trigger of `listen: true` that these writes are Sluice's own (no notification echoes back)
    await client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET sluice.writing = 'on'`);
    return new PostgresDb(client);
  }

  quote(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
  }

  param(i: number): string {
    return `$${i}`;
  }

  selectRows(table: string): string {
    return `SELECT row_to_json(s)::text AS j FROM ${tableParts(table).map((p) => this.quote(p)).join('.')} AS s`;
  }

  returningRow(alias: string): string {
    return `row_to_json(${alias})::text AS j`;
  }

  selectColumns(table: string, columns: readonly string[]): string {
    const pairs = columns.map((c) => `'${c.replace(/'/g, "''")}', s.${this.quote(c)}`).join(', ');
    return `SELECT json_build_object(${pairs})::text AS j FROM ${tableParts(table).map((p) => this.quote(p)).join('.')} AS s`;
  }

  readonly insertReturning = true;

  async columns(table: string): Promise<string[]> {
    const r = await this.client.query(`SELECT * FROM ${tableParts(table).map((p) => this.quote(p)).join('.')} LIMIT 0`);
    return r.fields.map((f) => f.name);
  }

  async columnTypes(table: string): Promise<Map<string, string>> {
    const r = await this.client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      [tableParts(table).map((p) => this.quote(p)).join('.')],
    );
    return new Map(r.rows.map((c) => [c.name, c.type]));
  }

  async rawRows(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.client.query(sql, params as unknown[])).rows;
  }

  async rows(sql: string, params: readonly unknown[] = []): Promise<JsonObject[]> {
    const r = await this.client.query<{ j: string }>(sql, params as unknown[]);
    return r.rows.map((row) => parseLossless(row.j) as JsonObject);
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    const r = await this.client.query(sql, params as unknown[]);
    return { changes: r.rowCount ?? 0 };
  }

  transaction<T>(work: (s: SqlSession) => Promise<T>): Promise<T> {
    return inTransaction(this, 'BEGIN', work);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}


const MYSQL_DATETIME = new Set([7, 12]); // TIMESTAMP, DATETIME
const MYSQL_JSON = 245;

class MysqlDb implements SqlDatabase {
  readonly driver = 'mysql';
  readonly returning = false;
  readonly now = 'CURRENT_TIMESTAMP(6)';

  private constructor(
    private readonly conn: MysqlConnection,
    /** MariaDB (10.5 and later) returns inserted rows; MySQL does not. */
    readonly insertReturning: boolean,
  ) {}

  static async connect(url: string): Promise<MysqlDb> {
    const uri = new URL(url);
    for (const option of Object.keys(MYSQL_READ_OPTIONS)) uri.searchParams.delete(option);
    // mysql2 loads with the first MySQL side, not with every sync
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
    const conn = await mysql.createConnection({ uri: uri.toString(), ...MYSQL_READ_OPTIONS });
    conn.on('error', () => undefined);
    await conn.query(`SET SESSION time_zone = '+00:00'`);
    const [[version]] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
    return new MysqlDb(conn, /mariadb/i.test(String(version?.v)));
  }

  async columnTypes(): Promise<Map<string, string>> {
    return new Map();
  }

  quote(name: string): string {
    return `\`${name.replace(/`/g, '``')}\``;
  }

  param(): string {
    return '?';
  }

  selectRows(table: string): string {
    return `SELECT * FROM ${tableParts(table).map((p) => this.quote(p)).join('.')} AS s`;
  }

  selectColumns(table: string, columns: readonly string[]): string {
    return this.selectRows(table).replace('SELECT *', `SELECT ${columns.map((c) => `s.${this.quote(c)}`).join(', ')}`);
  }

  returningRow(): string {
    return '*';
  }

  async columns(table: string): Promise<string[]> {
    const [, fields] = await this.conn.query(`SELECT * FROM ${tableParts(table).map((p) => this.quote(p)).join('.')} LIMIT 0`);
    return (fields as FieldPacket[]).map((f) => f.name);
  }

  async rawRows(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    return (await this.conn.query<RowDataPacket[]>(sql, params as unknown[]))[0];
  }

  async rows(sql: string, params: readonly unknown[] = []): Promise<JsonObject[]> {
    const [rows, fields] = await this.conn.query<RowDataPacket[]>(sql, params as unknown[]);
    // MariaDB's JSON is LONGTEXT: its extended metadata marks the column, as the reader finds it
    const kinds = new Map(fields.map((f) => [f.name, f.extendedFormat === 'json' ? MYSQL_JSON : (f.columnType ?? f.type)]));
    return rows.map((row) => {
      const out: JsonObject = {};
      for (const [name, v] of Object.entries(row)) out[name] = mysqlValue(v, kinds.get(name));
      return out;
    });
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number; insertId?: string }> {
    const [r] = await this.conn.query<ResultSetHeader>(sql, params as unknown[]);
    return { changes: r.affectedRows, ...(r.insertId ? { insertId: String(r.insertId) } : {}) };
  }

  transaction<T>(work: (s: SqlSession) => Promise<T>): Promise<T> {
    return inTransaction(this, 'START TRANSACTION', work);
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}

function mysqlValue(v: unknown, type: number | undefined): JsonObject[string] {
  if (v === null || v === undefined) return null;
  if (type !== undefined && MYSQL_DATETIME.has(type) && typeof v === 'string' && !v.startsWith('0000')) return isoDateTime(v) ?? v;
  if (type === MYSQL_JSON && typeof v === 'string') {
    try {
      return parseLossless(v) as JsonObject[string];
    } catch {
      return v;
    }
  }
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return v as JsonObject[string];
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

class SqliteDb implements SqlDatabase {
  readonly driver = 'sqlite';
  readonly returning = true;
  readonly now = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
  private readonly db: Database.Database;

  constructor(url: string) {
    this.db = new Database(url.replace(/^(sqlite|file):(\/\/)?/, ''), { fileMustExist: true });
    this.db.defaultSafeIntegers(true);
    // the change feed reads while this connection writes: only WAL lets both go on
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
  }

  quote(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
  }

  param(): string {
    return '?';
  }

  selectRows(table: string): string {
    return `SELECT * FROM ${this.quote(tableParts(table).at(-1)!)} AS s`;
  }

  selectColumns(table: string, columns: readonly string[]): string {
    return this.selectRows(table).replace('SELECT *', `SELECT ${columns.map((c) => `s.${this.quote(c)}`).join(', ')}`);
  }

  returningRow(): string {
    return '*';
  }

  readonly insertReturning = true;

  async columnTypes(): Promise<Map<string, string>> {
    return new Map();
  }

  async columns(table: string): Promise<string[]> {
    return (this.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(tableParts(table).at(-1)) as { name: string }[]).map((c) => c.name);
  }

  async rawRows(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    return this.db.prepare(sql).all(...params.map(sqliteParam)) as Record<string, unknown>[];
  }

  async rows(sql: string, params: readonly unknown[] = []): Promise<JsonObject[]> {
    const stmt = this.db.prepare(sql);
    const declared = new Map(stmt.columns().map((c) => [c.name, (c.type ?? '').toUpperCase()]));
    return (stmt.all(...params.map(sqliteParam)) as Record<string, unknown>[]).map((row) => {
      const out: JsonObject = {};
      for (const [name, v] of Object.entries(row)) out[name] = sqliteValue(v, declared.get(name) ?? '');
      return out;
    });
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<{ changes: number; insertId?: string }> {
    const r = this.db.prepare(sql).run(...params.map(sqliteParam));
    return { changes: r.changes, insertId: String(r.lastInsertRowid) };
  }

  async transaction<T>(work: (s: SqlSession) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = await work(this);
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** SQLite binds numbers, text, bigints, buffers and null; anything else is stored as its JSON. */
function sqliteParam(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return stringifyLossless(v);
  return v;
}

/** As the SQLite reader spells values: exact integers, base64 binary, ISO times for DATE/TIME columns. */
function sqliteValue(v: unknown, declared: string): JsonObject[string] {
  if (typeof v === 'bigint') return v >= -MAX_EXACT && v <= MAX_EXACT ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'string' && /DATE|TIME/.test(declared)) return isoDateTime(v) ?? v;
  return v as JsonObject[string];
}

/**
 * `listen: true` on a PostgreSQL side: a statement trigger on the table that NOTIFYs `channel` on every
 * insert, update and delete — except Sluice's own writes — and a connection that LISTENs for it.
 * Returns how to stop listening. The trigger stays (installing it again is harmless).
 */
export async function listenToTable(url: string, table: string, channel: string, onChange: () => void): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url, application_name: 'sluice-listen' });
  client.on('error', () => undefined);
  await client.connect();
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const target = tableParts(table).map(quote).join('.');
  const literal = channel.replace(/'/g, "''");
  await client.query('BEGIN');
  try {
    // serve processes starting together would race to replace the function: one at a time
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice_sync_notify'))`);
    await client.query(`CREATE OR REPLACE FUNCTION sluice_sync_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF coalesce(current_setting('sluice.writing', true), '') <> 'on' THEN PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME); END IF;
        RETURN NULL;
      END $$`);
    await client.query(`DROP TRIGGER IF EXISTS ${quote(channel)} ON ${target}`);
    await client.query(`CREATE TRIGGER ${quote(channel)} AFTER INSERT OR UPDATE OR DELETE ON ${target} FOR EACH STATEMENT EXECUTE FUNCTION sluice_sync_notify('${literal}')`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
    throw err;
  }
  client.on('notification', (n) => {
    if (n.channel === channel) onChange();
  });
  await client.query(`LISTEN ${quote(channel)}`);
  return async () => {
    await client.end().catch(() => undefined);
  };
}
