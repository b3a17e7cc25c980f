/**
 * A database table as a sync side. Its changes come from the read extractor (keyset cursor, streamed,
 * read-only), handed in as a change feed; reads by key and every write go through its own connection,
 * one transaction per batch, every value a bound parameter. Each write is wrapped in a savepoint, so one
 * rejected row (a constraint, a type) fails alone and the rest of the batch commits.
 */
import { decodeCopyLines } from '../../core/copy-text';
import { SluiceError, messageOf } from '../../core/errors';
import { msg } from '../../core/i18n';
import { parseLossless, stringifyLossless } from '../../core/json-text';
import { keyText, type Json, type JsonObject } from '../../core/record';
import type { ApplyResult, ChangeBatch, ChangeFeed, Side, SideOp, SideRow } from '../side';
import { fieldOf } from '../values';
import { connectSql, type SqlDatabase, type SqlSession } from './sql';

export interface TableSideConfig {
  name: string;
  pipeline: string;
  driver: 'postgres' | 'mysql' | 'sqlite';
  url: string;
  table: string;
  key: readonly string[];
  cursor?: string;
  touch?: string;
  /** Values every created record gets, for columns the mapping does not fill. */
  defaults: JsonObject;
}

const CHUNK = 500;
/** Keys per query when records or keys are looked up by key: ten round trips of 500 cost a third more than one of 5,000. */
const KEY_CHUNK = 5000;
/**
 * The ledger of creates, in the side's own database: a row per record Sluice created, written in the
 * create's transaction, so a run that died between creating and keeping the key finds the key here.
 */
const LEDGER = 'sluice_sync_created';
/** Ledger rows are needed only until the next run: a week is plenty. */
const LEDGER_DAYS = 7;

export class TableSide implements Side {
  readonly name: string;
  private db: SqlDatabase | undefined;
  /** Column types, where the database needs casts in statements (PostgreSQL). */
  private types = new Map<string, string>();

  constructor(
    private readonly config: TableSideConfig,
    private readonly feed: ChangeFeed,
  ) {
    this.name = config.name;
  }

  private get where() {
    return { pipeline: this.config.pipeline, source: this.config.name };
  }

  async open(fields: readonly string[]): Promise<string[]> {
    try {
      this.db = await connectSql(this.config.driver, this.config.url);
    } catch (err) {
      throw new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.table.connect', { side: this.name, reason: messageOf(err) }), this.where, { cause: err });
    }
    await this.openLedger(this.db);
    this.types = await this.db.columnTypes(this.config.table);
    const columns = await this.db.columns(this.config.table);
    const wanted = [...fields, ...this.config.key, ...Object.keys(this.config.defaults), ...(this.config.touch ? [this.config.touch] : [])];
    for (const column of wanted) {
      if (!columns.includes(column)) {
        throw new SluiceError('SLUICE_SYNC_COLUMN', msg('err.sync.table.column', { side: this.name, table: this.config.table, column, columns: columns.join(', ') }), { ...this.where, field: column });
      }
    }
    return columns;
  }

  private async openLedger(db: SqlDatabase): Promise<void> {
    const text = db.driver === 'mysql' ? 'VARCHAR(255)' : 'TEXT';
    await db.run(`CREATE TABLE IF NOT EXISTS ${LEDGER} (ref ${text} NOT NULL PRIMARY KEY, created_key TEXT NOT NULL, created_at ${text} NOT NULL)`);
    await db.run(`DELETE FROM ${LEDGER} WHERE created_at < ${db.param(1)}`, [new Date(Date.now() - LEDGER_DAYS * 86_400_000).toISOString()]);
  }

  async created(refs: readonly string[]): Promise<Map<string, string>> {
    const db = this.db!;
    const out = new Map<string, string>();
    for (let i = 0; i < refs.length; i += CHUNK) {
      const chunk = refs.slice(i, i + CHUNK);
      const rows = await db.rawRows(`SELECT ref, created_key FROM ${LEDGER} WHERE ref IN (${chunk.map((_, j) => db.param(j + 1)).join(', ')})`, chunk);
      for (const r of rows) out.set(String(r.ref), String(r.created_key));
    }
    return out;
  }

  async *changes(since: Parameters<Side['changes']>[0], signal: AbortSignal): AsyncIterable<ChangeBatch> {
    await this.feed.open();
    try {
      for await (const batch of this.feed.extract(since)) {
        signal.throwIfAborted();
        // the PostgreSQL reader yields COPY lines whatever it is asked for: both shapes are records
        const records = batch.rows.kind === 'records' ? batch.rows.records : decodeCopyLines(batch.rows.data);
        const rows = records.filter((r) => r.json !== null).map((r): SideRow => ({ key: r.key, changedAt: r.cursor, data: parseLossless(r.json!) as JsonObject }));
        yield { rows, checkpoint: batch.checkpoint };
      }
    } finally {
      await this.feed.close();
    }
  }

  async get(keys: readonly string[]): Promise<Map<string, SideRow>> {
    const out = new Map<string, SideRow>();
    for (let i = 0; i < keys.length; i += KEY_CHUNK) {
      for (const row of await this.select(this.db!, this.keyWhere(keys.slice(i, i + KEY_CHUNK)))) out.set(this.keyOf(row), this.rowOf(row));
    }
    return out;
  }

  async findBy(field: string, values: readonly string[]): Promise<Map<string, SideRow>> {
    const out = new Map<string, SideRow>();
    const db = this.db!;
    for (let i = 0; i < values.length; i += CHUNK) {
      const chunk = values.slice(i, i + CHUNK);
      const rows = await this.select(db, { sql: `s.${db.quote(field)} IN (${chunk.map((_, j) => db.param(j + 1)).join(', ')})`, params: chunk });
      for (const row of rows) out.set(String(row[field]), this.rowOf(row));
    }
    return out;
  }

  async count(): Promise<number> {
    const [row] = await this.db!.rawRows(`SELECT count(*) AS n FROM ${this.tableSql}`);
    return Number(row?.n ?? 0);
  }

  async missing(keys: readonly string[]): Promise<string[]> {
    const db = this.db!;
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += KEY_CHUNK) {
      const where = this.keyWhere(keys.slice(i, i + KEY_CHUNK));
      for (const row of await db.rows(`${db.selectColumns(this.config.table, this.config.key)} WHERE ${where.sql}`, where.params)) found.add(this.keyOf(row));
    }
    return keys.filter((k) => !found.has(k));
  }

  async apply(ops: readonly SideOp[]): Promise<ApplyResult[]> {
    const db = this.db!;
    return db.transaction(async (s) => {
      const results: (ApplyResult | undefined)[] = new Array(ops.length);
      // many writes of one kind go as one statement; if it fails, each write goes alone to find the bad one
      for (const group of db.driver === 'sqlite' ? [] : this.groups(ops)) {
        await s.run('SAVEPOINT sluice_batch');
        try {
          const done = await this.applyMany(s, group.map((i) => ops[i]!));
          await s.run('RELEASE SAVEPOINT sluice_batch');
          group.forEach((i, j) => {
            if (done[j]) results[i] = { ok: true, ...done[j]! };
          });
        } catch {
          await s.run('ROLLBACK TO SAVEPOINT sluice_batch');
        }
      }
      for (const [i, op] of ops.entries()) results[i] ??= await this.applyAlone(s, op);
      return results as ApplyResult[];
    });
  }

  /** Indexes of the ops that can share a statement: creates and updates of the same columns, deletes. */
  private groups(ops: readonly SideOp[]): number[][] {
    const groups = new Map<string, number[]>();
    ops.forEach((op, i) => {
      if (op.op === 'create' && !this.db!.insertReturning) return;
      const id = op.op === 'delete' ? 'delete' : `${op.op}:${Object.keys(op.values).sort().join(',')}`;
      const group = groups.get(id);
      if (group) group.push(i);
      else groups.set(id, [i]);
    });
    return [...groups.values()].filter((g) => g.length > 1);
  }

  /** One op in its own savepoint: a failure is that op's alone. */
  private async applyAlone(s: SqlSession, op: SideOp): Promise<ApplyResult> {
    await s.run('SAVEPOINT sluice_op');
    try {
      const done = await this.applyOne(s, op);
      await s.run('RELEASE SAVEPOINT sluice_op');
      return { ok: true, ...done };
    } catch (err) {
      await s.run('ROLLBACK TO SAVEPOINT sluice_op');
      const key = op.op === 'create' ? undefined : op.key;
      return { ok: false, error: new SluiceError('SLUICE_SYNC_WRITE', msg('err.sync.table.write', { side: this.name, op: op.op, key: key ?? '(new)', reason: messageOf(err) }), { ...this.where, ...(key ? { key } : {}) }, { cause: err }) };
    }
  }

  /**
   * Ops of one kind (and the same columns) as one statement. Results are in the order of `ops`; an
   * update whose row is not there is left undefined (it then fails alone, with the reason).
   */
  private async applyMany(s: SqlSession, ops: readonly SideOp[]): Promise<({ key: string; row: SideRow | null } | undefined)[]> {
    const db = this.db!;
    const first = ops[0]!;
    if (first.op === 'delete') {
      const keys = ops.map((o) => (o as { key: string }).key);
      const where = this.keyWhere(keys);
      await s.run(`${db.driver === 'mysql' ? 'DELETE s FROM' : 'DELETE FROM'} ${this.tableSql} AS s WHERE ${where.sql}`, where.params);
      return keys.map((key) => ({ key, row: null }));
    }
    if (first.op === 'create') {
      const creates = ops as Extract<SideOp, { op: 'create' }>[];
      const values = creates.map((o) => ({ ...this.config.defaults, ...o.values }));
      const names = Object.keys(values[0]!);
      const params: unknown[] = [];
      const bind = (v: unknown) => {
        params.push(v);
        return db.param(params.length);
      };
      const tuples = values.map((v) => `(${[...names.map((n) => bind(encode(v[n] ?? null, db.driver))), ...(this.config.touch ? [db.now] : [])].join(', ')})`);
      const columns = [...names, ...(this.config.touch ? [this.config.touch] : [])].map((n) => db.quote(n));
      const rows = await s.rows(`INSERT INTO ${this.tableSql} ${db.driver === 'postgres' ? 'AS s ' : ''}(${columns.join(', ')}) VALUES ${tuples.join(', ')} RETURNING ${db.returningRow('s')}`, params);
      if (rows.length !== creates.length) throw new Error(`inserted ${creates.length} rows, ${rows.length} came back`);
      const made = rows.map((row) => ({ key: this.keyOf(row), row: this.rowOf(row) }));
      const at = new Date().toISOString();
      const ledger = made.map((m, i) => [creates[i]!.ref, m.key, at]);
      await s.run(`INSERT INTO ${LEDGER} (ref, created_key, created_at) VALUES ${ledger.map((_, i) => `(${[1, 2, 3].map((j) => db.param(i * 3 + j)).join(', ')})`).join(', ')}`, ledger.flat());
      return made;
    }
    const updates = ops as Extract<SideOp, { op: 'update' }>[];
    const byKey = await this.updateMany(s, updates);
    return updates.map((o) => {
      const row = byKey.get(o.key);
      return row ? { key: o.key, row } : undefined;
    });
  }

  /** Updates of the same columns, joined to a table of their keys and values: one statement. */
  private async updateMany(s: SqlSession, ops: readonly Extract<SideOp, { op: 'update' }>[]): Promise<Map<string, SideRow>> {
    const db = this.db!;
    const names = Object.keys(ops[0]!.values).sort();
    const keys = this.config.key;
    const q = (n: string) => db.quote(n);
    const params: unknown[] = [];
    const bind = (v: unknown) => {
      params.push(v);
      return db.param(params.length);
    };
    const keyParts = (k: string) => (keys.length === 1 ? [k] : (JSON.parse(k) as string[]));
    const touch = this.config.touch ? `, ${db.driver === 'postgres' ? '' : 's.'}${q(this.config.touch)} = ${db.now}` : '';
    let sql: string;
    if (db.driver === 'postgres') {
      // VALUES parameters arrive as text: each is cast to its column's type
      const cast = (n: string) => (this.types.has(n) ? `::${this.types.get(n)}` : '');
      const tuples = ops.map((o) => `(${[...keyParts(o.key).map(bind), ...names.map((n) => bind(encode(o.values[n] ?? null, db.driver)))].join(', ')})`);
      const columns = [...keys.map((_, i) => `k${i}`), ...names.map(q)];
      sql = `UPDATE ${this.tableSql} AS s SET ${names.map((n) => `${q(n)} = v.${q(n)}${cast(n)}`).join(', ')}${touch}
        FROM (VALUES ${tuples.join(', ')}) AS v(${columns.join(', ')})
        WHERE ${keys.map((k, i) => `s.${q(k)} = v.k${i}${cast(k)}`).join(' AND ')} RETURNING ${db.returningRow('s')}`;
      const rows = await s.rows(sql, params);
      return new Map(rows.map((row) => [this.keyOf(row), this.rowOf(row)]));
    }
    const selects = ops.map((o, i) => {
      const cells = [...keyParts(o.key).map(bind), ...names.map((n) => bind(encode(o.values[n] ?? null, db.driver)))];
      return i === 0 ? `SELECT ${cells.map((c, j) => `${c} AS ${j < keys.length ? `k${j}` : q(names[j - keys.length]!)}`).join(', ')}` : `SELECT ${cells.join(', ')}`;
    });
    sql = `UPDATE ${this.tableSql} AS s JOIN (${selects.join(' UNION ALL ')}) AS v ON ${keys.map((k, i) => `s.${q(k)} = v.k${i}`).join(' AND ')}
      SET ${names.map((n) => `s.${q(n)} = v.${q(n)}`).join(', ')}${touch}`;
    await s.run(sql, params);
    // read back in the same transaction: the rows stay locked until it ends
    const rows = await this.select(s, this.keyWhere(ops.map((o) => o.key)));
    return new Map(rows.map((row) => [this.keyOf(row), this.rowOf(row)]));
  }

  private async applyOne(s: SqlSession, op: SideOp): Promise<{ key: string; row: SideRow | null }> {
    const db = this.db!;
    const table = this.tableSql;
    if (op.op === 'delete') {
      const where = this.keyWhere([op.key]);
      await s.run(`${db.driver === 'mysql' ? 'DELETE s FROM' : 'DELETE FROM'} ${table} AS s WHERE ${where.sql}`, where.params);
      return { key: op.key, row: null };
    }
    const values: Record<string, Json> = op.op === 'create' ? { ...this.config.defaults, ...op.values } : { ...op.values };
    const names = Object.keys(values);
    const encoded = names.map((n) => encode(values[n]!, db.driver));
    const touch = this.config.touch ? [`${db.quote(this.config.touch)} = ${db.now}`] : [];
    if (op.op === 'create') {
      const columns = [...names.map((n) => db.quote(n)), ...(this.config.touch ? [db.quote(this.config.touch)] : [])];
      const placeholders = [...names.map((_, i) => db.param(i + 1)), ...(this.config.touch ? [db.now] : [])];
      const insert = `INSERT INTO ${table} ${db.driver === 'postgres' ? 'AS s ' : ''}(${columns.join(', ')}) VALUES (${placeholders.join(', ')})`;
      let made: { key: string; row: SideRow };
      if (db.returning) {
        const [row] = await s.rows(`${insert} RETURNING ${db.returningRow('s')}`, encoded);
        made = { key: this.keyOf(row!), row: this.rowOf(row!) };
      } else {
        const r = await s.run(insert, encoded);
        made = await this.readBack(s, this.config.key.length === 1 && fieldOf(values, this.config.key[0]!) === undefined ? r.insertId! : keyText(this.config.key.map((k) => String(values[k] ?? null))));
      }
      await s.run(`INSERT INTO ${LEDGER} (ref, created_key, created_at) VALUES (${db.param(1)}, ${db.param(2)}, ${db.param(3)})`, [op.ref, made.key, new Date().toISOString()]);
      return made;
    }
    const where = this.keyWhere([op.key], names.length + 1);
    const sets = [...names.map((n, i) => `${db.quote(n)} = ${db.param(i + 1)}`), ...touch];
    if (sets.length === 0) return this.readBack(s, op.key);
    const update = `UPDATE ${table} AS s SET ${sets.join(', ')} WHERE ${where.sql}`;
    if (db.returning) {
      const [row] = await s.rows(`${update} RETURNING ${db.returningRow('s')}`, [...encoded, ...where.params]);
      if (!row) throw new Error(`no row with key ${op.key}`);
      return { key: op.key, row: this.rowOf(row) };
    }
    const r = await s.run(update, [...encoded, ...where.params]);
    if (r.changes === 0 && (await this.select(s, this.keyWhere([op.key]))).length === 0) throw new Error(`no row with key ${op.key}`);
    return this.readBack(s, op.key);
  }

  /** The row as written, read inside the writing transaction: nobody can change it in between. */
  private async readBack(s: SqlSession, key: string): Promise<{ key: string; row: SideRow }> {
    const [row] = await this.select(s, this.keyWhere([key]));
    if (!row) throw new Error(`the row with key ${key} is not there after the write`);
    return { key: this.keyOf(row), row: this.rowOf(row) };
  }

  private select(s: SqlSession, where: { sql: string; params: unknown[] }): Promise<JsonObject[]> {
    return s.rows(`${this.db!.selectRows(this.config.table)} WHERE ${where.sql}`, where.params);
  }

  private get tableSql(): string {
    return this.config.table.split('.').map((p) => this.db!.quote(p)).join('.');
  }

  /** `(k1, k2) IN ((…), (…))` over key texts, with parameters numbered from `first`. */
  private keyWhere(keys: readonly string[], first = 1): { sql: string; params: unknown[] } {
    const db = this.db!;
    const cols = this.config.key;
    const params: unknown[] = [];
    const tuple = (k: string) => {
      const parts = cols.length === 1 ? [k] : (JSON.parse(k) as string[]);
      const marks = parts.map((p) => {
        params.push(p);
        return db.param(first + params.length - 1);
      });
      return cols.length === 1 ? marks[0]! : `(${marks.join(', ')})`;
    };
    const lhs = cols.length === 1 ? `s.${db.quote(cols[0]!)}` : `(${cols.map((c) => `s.${db.quote(c)}`).join(', ')})`;
    return { sql: `${lhs} IN (${keys.map(tuple).join(', ')})`, params };
  }


  private keyOf(row: JsonObject): string {
    return keyText(this.config.key.map((k) => String(row[k] ?? null)));
  }

  private rowOf(row: JsonObject): SideRow {
    const c = this.config.cursor ? row[this.config.cursor] : null;
    return { key: this.keyOf(row), changedAt: c === null || c === undefined ? null : String(c), data: row };
  }

  async close(): Promise<void> {
    await this.db?.close();
    this.db = undefined;
    await this.feed.close();
  }
}

/**
 * Objects go to the database as JSON text; arrays stay arrays where the driver binds them (PostgreSQL).
 * An integer past 2^53 (a BigInt) goes as its digits, which each database reads into the column's type.
 */
function encode(v: Json, driver: SqlDatabase['driver']): unknown {
  if (typeof v === 'bigint') return (v as bigint).toString();
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v) && driver === 'postgres') return v;
  return stringifyLossless(v);
}
