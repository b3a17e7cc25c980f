/**
 * The MySQL/MariaDB reader (mysql2). One connection, one `REPEATABLE READ` transaction started
 * `WITH CONSISTENT SNAPSHOT, READ ONLY` (every query sees the same data, and any write fails), and one
 * ordered query per extract() streamed row by row with backpressure and cut into batches.
 *
 * Values: BIGINT and DECIMAL become strings (exact), DATETIME/TIMESTAMP ISO-8601 with an offset (the
 * session is UTC; DATETIME is taken as UTC), DATE `YYYY-MM-DD`, binary strings base64, BIT a number, JSON
 * stays JSON (MariaDB's JSON is LONGTEXT with a `json_valid` check, found through the column metadata or
 * information_schema). Keys, cursors and checkpoints keep the driver's raw values so they bind back exactly.
 */
import type { Socket } from 'node:net';
import { msg } from '../../core/i18n';
import type { Readable } from 'node:stream';
import type { Connection, FieldPacket, RowDataPacket } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { isoDateTime } from '../../core/convert';
import { MYSQL_READ_OPTIONS } from '../../core/mysql-options';
import { SluiceError, messageOf } from '../../core/errors';
import type { Batch, Checkpoint, Field, Json } from '../../core/record';
import { defineExtractor, type ExtractContext, type Extractor } from '../extractor';
import { readConfig, type ReadConfig } from './config';
import { connectError } from './connect-error';
import { fullReadDone, checkpointAfter, checkColumns, duplicateKeyError, nullCursorError, sourceSql, inBatches, recordOf, startAt, type RowShape, type StartAt } from './keyset';

export const mysqlReader = defineExtractor({
  kind: 'mysql',
  description: 'Reads a MySQL or MariaDB table or query in a read-only consistent snapshot, streamed.',
  config: readConfig('mysql'),
  create: (config, ctx) => new MysqlReader(config, ctx),
});

type Row = Record<string, unknown>;
type Kind = 'integer' | 'float' | 'bigint' | 'decimal' | 'datetime' | 'date' | 'bit' | 'binary' | 'json' | 'string' | 'other';

interface Column {
  name: string;
  kind: Kind;
  sourceType: string;
  nullable: boolean;
  unsigned: boolean;
  decimals: number;
}

const FORCED = MYSQL_READ_OPTIONS;

const NOT_NULL = 1;
const UNSIGNED = 32;
const ENUM = 256;
const SET = 2048;
const BINARY_CHARSET = 63;
const ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792;

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

class MysqlReader implements Extractor {
  private core: Connection | undefined;
  private conn: PromiseConnection | undefined;
  private columns: Column[] = [];
  /** A stream not read to its end: its connection is busy with the rest of the rows. */
  private active: Readable | undefined;
  private readonly where: { pipeline: string; source: string };
  private readonly shape: RowShape;

  constructor(
    private readonly config: ReadConfig,
    private readonly ctx: ExtractContext,
  ) {
    this.where = { pipeline: ctx.pipeline, source: ctx.source };
    this.shape = { key: config.key, cursor: config.cursor, tenant: ctx.tenant };
  }

  private get label(): string {
    return `${this.where.pipeline}/${this.where.source}`;
  }

  private get from(): string {
    return sourceSql(this.config, ident);
  }

  /** `[schema or null, table]` of a table source. */
  private get tableName(): [string | null, string] {
    const parts = this.config.table!.split('.');
    return [parts.length > 1 ? parts[0]! : null, parts.at(-1)!];
  }

  async open(): Promise<Field[]> {
    await this.connect();
    await this.sql('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await this.sql(`SET SESSION time_zone = '+00:00'`);
    await this.sql('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    // a derived table refuses duplicate column names itself, so every name here is unique
    const [, fields] = await this.sql(`SELECT * FROM ${this.from} AS s LIMIT 0`);
    const json = await this.jsonColumns();
    this.columns = fields.map((f) => columnOf(f, json.has(f.name)));
    const names = this.columns.map((c) => c.name);
    checkColumns(this.where, this.config, this.ctx.tenant, names);
    await this.checkKeyUnique();
    if (this.config.cursor) await this.checkNoNullCursor(this.column(this.config.cursor));
    return this.columns.map(fieldOf);
  }

  private async connect(): Promise<void> {
    try {
      const uri = new URL(this.config.url);
      for (const option of Object.keys(FORCED)) uri.searchParams.delete(option);
      this.core = mysql2().createConnection({ uri: uri.toString(), ...FORCED });
      this.core.on('error', () => undefined); // a dropped connection surfaces through the pending query instead
      this.conn = this.core.promise();
      await this.conn.connect();
    } catch (err) {
      throw connectError('mysql', this.config.url, err, this.where);
    }
  }

  private async sql(text: string, values: unknown[] = []): Promise<[RowDataPacket[], FieldPacket[]]> {
    try {
      return await this.conn!.query<RowDataPacket[]>(text, values);
    } catch (err) {
      throw queryError(this.label, err, this.where);
    }
  }

  private column(name: string): Column {
    return this.columns.find((c) => c.name === name)!;
  }

  /**
   * MariaDB stores JSON as LONGTEXT with a `json_valid` check. Servers that send extended metadata mark
   * those columns themselves (see columnOf); older ones are found here, for table sources.
   */
  private async jsonColumns(): Promise<Set<string>> {
    if (!this.config.table) return new Set();
    const [[server]] = await this.sql('SELECT VERSION() AS v');
    if (!/mariadb/i.test(String(server!.v))) return new Set(); // MySQL has a real JSON type
    const [rows] = await this.sql(
      `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`,
      this.tableName,
    );
    const names = rows.map((r) => /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(r.clause))?.[1]?.replace(/``/g, '`'));
    return new Set(names.filter((n): n is string => n !== undefined));
  }

  /** A PRIMARY/UNIQUE index on (a subset of) the key columns proves uniqueness; otherwise look for duplicates first. */
  private async checkKeyUnique(): Promise<void> {
    const keys = this.config.key;
    if (this.config.table) {
      const [rows] = await this.sql(
        `SELECT INDEX_NAME AS ix, COLUMN_NAME AS col FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0`,
        this.tableName,
      );
      const indexes = new Map<string, string[]>();
      for (const r of rows) indexes.set(String(r.ix), [...(indexes.get(String(r.ix)) ?? []), String(r.col)]);
      if ([...indexes.values()].some((cols) => cols.every((c) => keys.includes(c)))) return;
    }
    const cols = keys.map((k) => `s.${ident(k)}`).join(', ');
    const [dups] = await this.sql(`SELECT concat_ws(',', ${cols}) AS k FROM ${this.from} AS s GROUP BY ${cols} HAVING count(*) > 1 LIMIT 5`);
    if (dups.length > 0) throw duplicateKeyError(this.where, dups.map((d) => String(d.k)), dups.length);
  }

  private async checkNoNullCursor(cursor: Column): Promise<void> {
    if (!cursor.nullable) return;
    const [[row]] = await this.sql(`SELECT count(*) AS n FROM ${this.from} AS s WHERE s.${ident(cursor.name)} IS NULL`);
    const n = Number(row!.n);
    if (n > 0) {
      throw nullCursorError(this.where, n, cursor.name);
    }
  }

  async *extract(from?: Checkpoint): AsyncGenerator<Batch> {
    const { cursor, key, batchSize } = this.config;
    const order = [...(cursor ? [cursor] : []), ...key].map((n) => this.column(n));
    const { where, params } = condition(startAt(this.config, from), order);
    const sql = `SELECT * FROM ${this.from} AS s ${where} ORDER BY ${order.map((c) => `s.${ident(c.name)}`).join(', ')}`;
    const query = this.core!.query(sql, params);
    query.on('error', () => undefined); // errors reach the stream while it listens; after it is destroyed, nobody waits
    // highWaterMark bounds the rows buffered ahead of the consumer: past it, mysql2 pauses the socket
    const stream = query.stream({ highWaterMark: Math.min(batchSize, 1000) });
    this.active = stream;
    const abort = () => stream.destroy();
    this.ctx.signal.addEventListener('abort', abort, { once: true });
    try {
      yield* inBatches(
        stream as AsyncIterable<Row>,
        batchSize,
        (row) => recordOf(row, this.shape, this.jsonOf(row), this.where),
        (row) => checkpointAfter(this.config, cursor ? encodeValue(row[cursor]) : undefined, key.map((k) => encodeValue(row[k]))),
        this.ctx.signal,
      );
      this.active = undefined;
      if (!cursor) yield { rows: { kind: 'records', records: [] }, checkpoint: fullReadDone(this.config) };
    } catch (err) {
      if (this.ctx.signal.aborted) throw new SluiceError('SLUICE_RUN_CANCELLED', msg('err.extract.read.mysql.1', { where: this.label }), this.where, { cause: err });
      throw queryError(this.label, err, this.where);
    } finally {
      this.ctx.signal.removeEventListener('abort', abort);
      if (!stream.destroyed) stream.destroy();
    }
  }

  /** The record's JSON text, built column by column so JSON columns keep their own (exact) text. */
  private jsonOf(row: Row): string {
    const parts = this.columns.map((c) => `${JSON.stringify(c.name)}:${jsonText(row[c.name], c.kind)}`);
    return `{${parts.join(',')}}`;
  }

  async close(): Promise<void> {
    const { core, conn } = this;
    this.core = this.conn = undefined;
    if (!core || !conn) return;
    if (this.active) {
      // Rows of an unfinished stream are still arriving: ROLLBACK would wait behind all of them. Dropping the
      // socket stops the server's query, and the server rolls the transaction back on disconnect.
      this.active = undefined;
      core.destroy();
      (core as unknown as { stream?: Socket }).stream?.destroy(); // mysql2 keeps its socket there, untyped
      return;
    }
    await conn.query('ROLLBACK').catch(() => undefined);
    await conn.end().catch(() => undefined);
  }
}

/** The WHERE clause that starts a read: strictly after `(cursor, key...)`, or a look-back window. */
function condition(start: StartAt, order: Column[]): { where: string; params: unknown[] } {
  if (start.kind === 'beginning') return { where: '', params: [] };
  if (start.kind === 'lookback') {
    const c = order[0]!;
    const back = c.kind === 'datetime' || c.kind === 'date' ? `DATE_SUB(?, INTERVAL ? SECOND)` : `${placeholder(c)} - ?`;
    return { where: `WHERE s.${ident(c.name)} >= ${back}`, params: [decodeValue(start.cursor), start.lookback] };
  }
  const values = [...(start.cursor !== undefined ? [start.cursor] : []), ...start.key].map(decodeValue);
  // (a > ?) OR (a = ? AND b > ?) ...: older servers use no index for a row comparison `(a, b) > (?, ?)`
  const params: unknown[] = [];
  const terms = order.map((c, i) => {
    const equal = order.slice(0, i).map((p, j) => {
      params.push(values[j]);
      return `s.${ident(p.name)} = ${placeholder(p)}`;
    });
    params.push(values[i]);
    return `(${[...equal, `s.${ident(c.name)} > ${placeholder(c)}`].join(' AND ')})`;
  });
  return { where: `WHERE ${terms.join(' OR ')}`, params };
}

/** A bound value cast to the column's type, so BIGINT and DECIMAL strings compare exactly (MySQL compares number with string as doubles). */
function placeholder(c: Column): string {
  if (c.kind === 'bigint') return c.unsigned ? 'CAST(? AS UNSIGNED)' : 'CAST(? AS SIGNED)';
  if (c.kind === 'decimal') return `CAST(? AS DECIMAL(65, ${Math.trunc(c.decimals)}))`;
  return '?';
}

/** Checkpoints hold the raw values; only binary ones need a JSON form. */
function encodeValue(v: unknown): Json {
  return Buffer.isBuffer(v) ? { blob: v.toString('base64') } : (v as Json);
}

function decodeValue(v: Json | undefined): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.blob === 'string') return Buffer.from(v.blob, 'base64');
  return v;
}

/** One value as JSON text. */
function jsonText(v: unknown, kind: Kind): string {
  if (v === null || v === undefined) return 'null';
  if (kind === 'json' && typeof v === 'string') {
    try {
      JSON.parse(v);
      return v.replace(/[\r\n]+/g, ' '); // CR/LF in valid JSON is whitespace: keep the record on one line
    } catch {
      return JSON.stringify(v); // not JSON after all (the check can be disabled): keep the text
    }
  }
  if (kind === 'datetime' && typeof v === 'string' && !v.startsWith('0000')) return JSON.stringify(isoDateTime(v) ?? v);
  if (kind === 'bit' && Buffer.isBuffer(v)) return JSON.stringify(bitValue(v));
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'));
  return JSON.stringify(v);
}

/** mysql2, loaded when a MySQL source is first read: pipelines that read none do not pay for it. */
function mysql2(): typeof import('mysql2') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('mysql2') as typeof import('mysql2');
}

/** BIT(n) arrives as big-endian bytes: a number while exact, else its decimal text. */
function bitValue(bytes: Buffer): number | string {
  const n = bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function columnOf(f: FieldPacket, jsonChecked: boolean): Column {
  const { Types } = mysql2();
  const type = f.columnType ?? f.type ?? Types.NULL;
  const flags = typeof f.flags === 'number' ? f.flags : 0; // result-set fields carry numeric flags
  const binary = f.characterSet === BINARY_CHARSET;
  const json = jsonChecked || f.extendedFormat === 'json' || type === Types.JSON;
  const kind = json ? 'json' : kindOf(type, binary);
  let sourceType = json ? 'JSON' : flags & ENUM ? 'ENUM' : flags & SET ? 'SET' : (TYPE_NAMES[type] ?? 'UNKNOWN');
  if (binary && kind === 'binary') sourceType = sourceType.replace('TEXT', 'BLOB').replace('VARCHAR', 'VARBINARY').replace('CHAR', 'BINARY');
  const numeric = kind === 'integer' || kind === 'bigint' || kind === 'decimal' || kind === 'float';
  if (flags & UNSIGNED && numeric) sourceType += ' UNSIGNED'; // BIT and TIMESTAMP carry the flag too
  return { name: f.name, kind, sourceType, nullable: !(flags & NOT_NULL), unsigned: Boolean(flags & UNSIGNED), decimals: f.decimals };
}

function kindOf(type: number, binary: boolean): Kind {
  const { Types } = mysql2();
  switch (type) {
    case Types.TINY: case Types.SHORT: case Types.LONG: case Types.INT24: case Types.YEAR: return 'integer';
    case Types.FLOAT: case Types.DOUBLE: return 'float';
    case Types.LONGLONG: return 'bigint';
    case Types.DECIMAL: case Types.NEWDECIMAL: return 'decimal';
    case Types.DATETIME: case Types.TIMESTAMP: return 'datetime';
    case Types.DATE: case Types.NEWDATE: return 'date';
    case Types.BIT: return 'bit';
    case Types.TIME: return 'string'; // a duration up to ±838 hours, sent as text with the binary charset
    case Types.GEOMETRY: case Types.NULL: return 'other';
    default: return binary ? 'binary' : 'string';
  }
}

/** Protocol type codes → the SQL names users write (the BLOB family reads TEXT until the charset says binary). */
const TYPE_NAMES: Record<number, string> = {
  0: 'DECIMAL', 1: 'TINYINT', 2: 'SMALLINT', 3: 'INT', 4: 'FLOAT', 5: 'DOUBLE', 6: 'NULL', 7: 'TIMESTAMP', 8: 'BIGINT',
  9: 'MEDIUMINT', 10: 'DATE', 11: 'TIME', 12: 'DATETIME', 13: 'YEAR', 14: 'DATE', 15: 'VARCHAR', 16: 'BIT', 245: 'JSON',
  246: 'DECIMAL', 247: 'ENUM', 248: 'SET', 249: 'TINYTEXT', 250: 'MEDIUMTEXT', 251: 'LONGTEXT', 252: 'TEXT', 253: 'VARCHAR',
  254: 'CHAR', 255: 'GEOMETRY',
};

function fieldOf(c: Column): Field {
  const base = { name: c.name, sourceType: c.sourceType, nullable: c.nullable };
  switch (c.kind) {
    case 'integer': case 'bit': return { ...base, type: 'integer' };
    case 'float': return { ...base, type: 'number' };
    case 'bigint': return { ...base, type: 'string', format: 'int64' };
    case 'decimal': return { ...base, type: 'string', format: 'decimal' };
    case 'datetime': return { ...base, type: 'string', format: 'date-time' };
    case 'date': return { ...base, type: 'string', format: 'date' };
    case 'binary': return { ...base, type: 'string', format: 'base64' };
    case 'json': case 'other': return { ...base, type: 'json' };
    default: return { ...base, type: 'string' };
  }
}

function queryError(label: string, err: unknown, where: { pipeline: string; source: string }): SluiceError {
  if (err instanceof SluiceError) return err;
  const readOnly = (err as { errno?: number }).errno === ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    ? ' (the source is read in a read-only transaction: Sluice never writes to it)' : '';
  // mysql2 builds row objects with code and refuses a column named like Object's own members (__proto__)
  const hint = /object's private property/.test(messageOf(err))
    ? 'the MySQL driver cannot read a column by this name: read the source with a `query:` that renames it (SELECT `__proto__` AS proto, ...)'
    : undefined;
  return new SluiceError('SLUICE_SOURCE_QUERY', msg('err.extract.read.mysql.2', { where: label, reason: messageOf(err), readOnly }), { ...where, ...(hint ? { hint } : {}) }, { cause: err });
}
