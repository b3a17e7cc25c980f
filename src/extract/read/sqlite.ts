/**
 * The SQLite reader: a read-only handle (better-sqlite3), one ordered statement iterated row by row.
 *
 * Values: integers stay numbers while they are exact (|n| ≤ 2^53), larger ones become strings; BLOBs
 * become base64; TEXT in a column declared DATE/DATETIME/TIMESTAMP that reads as a date-time becomes
 * ISO-8601 with an offset (SQLite stores no zone, so UTC is assumed).
 */
import Database from 'better-sqlite3';
import { msg } from '../../core/i18n';
import { isoDateTime } from '../../core/convert';
import { SluiceError, messageOf } from '../../core/errors';
import type { Checkpoint, Field, Json } from '../../core/record';
import { defineExtractor, type ExtractContext, type Extractor } from '../extractor';
import { readConfig, type ReadConfig } from './config';
import {
  fullReadDone,
  checkpointAfter,
  checkColumns, duplicateKeyError, nullCursorError, sourceSql,
  inBatches,
  recordOf,
  startAt,
  type RowShape,
} from './keyset';

type Row = Record<string, unknown>;

export const sqliteReader = defineExtractor({
  kind: 'sqlite',
  description: 'Reads an SQLite database file, read-only.',
  config: readConfig('sqlite'),
  create: (config, ctx) => new SqliteReader(config, ctx),
});

/** `sqlite:path`, `sqlite://path`, `file:path` or a plain path → the file path. */
export function sqlitePath(url: string): string {
  return url.replace(/^(sqlite|file):(\/\/)?/, '');
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

class SqliteReader implements Extractor {
  private db: Database.Database | undefined;
  private declared = new Map<string, string>();
  private readonly where: { pipeline: string; source: string };
  private readonly shape: RowShape;

  constructor(
    private readonly config: ReadConfig,
    private readonly ctx: ExtractContext,
  ) {
    this.where = { pipeline: ctx.pipeline, source: ctx.source };
    this.shape = { key: config.key, cursor: config.cursor, tenant: ctx.tenant };
  }

  private get from(): string {
    return sourceSql(this.config, q);
  }

  async open(): Promise<Field[]> {
    const file = sqlitePath(this.config.url);
    try {
      this.db = new Database(file, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new SluiceError('SLUICE_SOURCE_CONNECT', msg('err.extract.read.sqlite.1', { pipeline: this.where.pipeline, source: this.where.source, file, reason: messageOf(err) }), this.where, { cause: err });
    }
    const columns = this.query(() => this.db!.prepare(`SELECT * FROM ${this.from} AS s LIMIT 0`).columns());
    const names = columns.map((c) => c.name);
    for (const c of columns) this.declared.set(c.name, (c.type ?? '').toUpperCase());
    const notNull = this.config.table ? this.notNullColumns(this.config.table) : new Set<string>();
    checkColumns(this.where, this.config, this.ctx.tenant, names);
    this.checkKeyUnique();
    return columns.map((c) => ({ ...fieldOf(c.name, c.type ?? ''), nullable: !notNull.has(c.name) }));
  }

  private notNullColumns(table: string): Set<string> {
    const info = this.db!.prepare(`SELECT name, "notnull" AS nn, pk FROM pragma_table_info(?)`).all(table.split('.').pop()) as { name: string; nn: number; pk: number }[];
    return new Set(info.filter((c) => c.nn || c.pk).map((c) => c.name));
  }

  /** Runs a statement, turning SQLite's errors into source errors that name the pipeline and source. */
  private query<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new SluiceError('SLUICE_SOURCE_QUERY', msg('err.extract.read.sqlite.2', { pipeline: this.where.pipeline, source: this.where.source, reason: messageOf(err) }), this.where, { cause: err });
    }
  }

  private checkKeyUnique(): void {
    const keys = this.config.key;
    if (this.config.table && this.tableKeyIsUnique(this.config.table, keys)) return;
    const cols = keys.map(q).join(', ');
    const dups = this.query(() =>
      this.db!.prepare(`SELECT ${cols}, count(*) AS n FROM ${this.from} AS s GROUP BY ${cols} HAVING count(*) > 1 LIMIT 5`).all(),
    ) as Row[];
    if (dups.length > 0) throw duplicateKeyError(this.where, dups.map((d) => keys.map((k) => String(d[k])).join(',')), dups.length);
  }

  private tableKeyIsUnique(table: string, keys: readonly string[]): boolean {
    const name = table.split('.').pop()!;
    const info = this.db!.prepare(`SELECT name, pk FROM pragma_table_info(?)`).all(name) as { name: string; pk: number }[];
    const pk = info.filter((c) => c.pk > 0).map((c) => c.name);
    if (pk.length > 0 && pk.every((c) => keys.includes(c))) return true;
    const indexes = this.db!.prepare(`SELECT name FROM pragma_index_list(?) WHERE "unique" = 1`).all(name) as { name: string }[];
    return indexes.some((ix) => {
      const cols = (this.db!.prepare(`SELECT name FROM pragma_index_info(?)`).all(ix.name) as { name: string }[]).map((c) => c.name);
      return cols.length > 0 && cols.every((c) => keys.includes(c));
    });
  }

  async *extract(from?: Checkpoint): AsyncGenerator<import('../../core/record').Batch> {
    const { cursor, key, batchSize } = this.config;
    const order = [...(cursor ? [cursor] : []), ...key];
    const start = startAt(this.config, from);
    let where = '';
    let params: unknown[] = [];
    if (start.kind === 'after') {
      const values = [...(cursor ? [start.cursor] : []), ...start.key];
      where = `WHERE (${order.map((c) => `s.${q(c)}`).join(', ')}) > (${values.map(() => '?').join(', ')})`;
      params = values.map(decodeValue);
    } else if (start.kind === 'lookback') {
      const value = decodeValue(start.cursor);
      where =
        typeof value === 'string'
          ? `WHERE s.${q(cursor!)} >= datetime(?, ?)`
          : `WHERE s.${q(cursor!)} >= ?`;
      params = typeof value === 'string' ? [value, `-${start.lookback} seconds`] : [Number(value) - start.lookback];
    }
    if (cursor) this.checkNoNullCursor(cursor);
    const stmt = this.query(() => this.db!.prepare(`SELECT * FROM ${this.from} AS s ${where} ORDER BY ${order.map((c) => `s.${q(c)}`).join(', ')}`));
    stmt.safeIntegers(true);
    // rows as arrays, named here: better-sqlite3's row objects drop a column named __proto__
    stmt.raw(true);
    const names = stmt.columns().map((c) => c.name);
    const values = this.query(() => stmt.iterate(...params)) as IterableIterator<unknown[]>;
    const rows = (function* () {
      for (const v of values) yield namedRow(names, v);
    })();
    try {
      yield* inBatches(
        rows,
        batchSize,
        (row) => recordOf(row, this.shape, JSON.stringify(this.toJson(row)), this.where),
        (row) => checkpointAfter(this.config, cursor ? encodeValue(row[cursor]) : undefined, key.map((k) => encodeValue(row[k]))),
        this.ctx.signal,
      );
    } finally {
      values.return?.();
    }
    if (!cursor) yield { rows: { kind: 'records', records: [] }, checkpoint: fullReadDone(this.config) };
  }

  private checkNoNullCursor(cursor: string): void {
    const { n } = this.query(() => this.db!.prepare(`SELECT count(*) AS n FROM ${this.from} AS s WHERE s.${q(cursor)} IS NULL`).get()) as { n: number };
    if (n > 0) {
      throw nullCursorError(this.where, n, cursor);
    }
  }

  private toJson(row: Row): Record<string, unknown> {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [name, v] of Object.entries(row)) out[name] = this.convert(v, this.declared.get(name) ?? '');
    return out;
  }

  private convert(v: unknown, declared: string): unknown {
    if (typeof v === 'bigint') return v >= -MAX_EXACT && v <= MAX_EXACT ? Number(v) : v.toString();
    if (Buffer.isBuffer(v)) return v.toString('base64');
    if (typeof v === 'string' && /DATE|TIME/.test(declared)) return isoDateTime(v) ?? v;
    return v;
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** A row keyed by column name; without a prototype, so any name (`__proto__`, `constructor`) is a column. */
function namedRow(names: readonly string[], values: readonly unknown[]): Row {
  const row = Object.create(null) as Row;
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row;
}


/** Checkpoint values keep SQLite's storage class, since SQLite compares values of different classes by class. */
function encodeValue(v: unknown): Json {
  if (typeof v === 'bigint') return v >= -MAX_EXACT && v <= MAX_EXACT ? Number(v) : { int: v.toString() };
  if (Buffer.isBuffer(v)) return { blob: v.toString('base64') };
  return v as Json;
}

function decodeValue(v: Json | undefined): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if (typeof v.int === 'string') return BigInt(v.int);
    if (typeof v.blob === 'string') return Buffer.from(v.blob, 'base64');
  }
  return v;
}

function fieldOf(name: string, declared: string): Field {
  const t = declared.toUpperCase();
  const base = { name, sourceType: declared || undefined, nullable: true };
  if (/INT/.test(t)) return { ...base, type: 'integer' };
  if (/REAL|FLOA|DOUB|NUMERIC|DECIMAL/.test(t)) return { ...base, type: 'number' };
  if (/BLOB/.test(t)) return { ...base, type: 'string', format: 'base64' };
  if (/DATE|TIME/.test(t)) return { ...base, type: 'string', format: 'date-time' };
  if (/BOOL/.test(t)) return { ...base, type: 'integer' };
  if (/JSON/.test(t)) return { ...base, type: 'json' };
  return { ...base, type: t ? 'string' : 'json' };
}
