/**
 * The PostgreSQL reader. One connection, one `REPEATABLE READ READ ONLY` transaction (a consistent
 * snapshot in which any write fails), one ordered `COPY (SELECT ...) TO STDOUT` streamed in batches.
 *
 * The database builds each record's JSON itself (`row_to_json` over a projection that makes types
 * survive), so rows arrive as bytes in the COPY text layout `tenant, key, cursor, json` and can go on to
 * a PostgreSQL store without ever becoming objects. COPY takes no bind parameters, so the checkpoint's
 * values are bound with `set_config($1...)` and read back in the query with `current_setting(...)`:
 * still parameters, never SQL text.
 *
 * Types: bigint and numeric become strings (exact), timestamps ISO-8601 with an offset (the session is
 * UTC; `timestamp without time zone` is taken as UTC), json/jsonb stay JSON, arrays stay arrays, bytea
 * becomes base64.
 */
import pg from 'pg';
import { msg } from '../../core/i18n';
import { to as copyTo } from 'pg-copy-streams';
import { SluiceError, messageOf } from '../../core/errors';
import { decodeCopyRecord } from '../../core/copy-text';
import type { Batch, Checkpoint, Field, Json } from '../../core/record';
import { defineExtractor, type ExtractContext, type Extractor } from '../extractor';
import { readConfig, type ReadConfig } from './config';
import { fullReadDone, checkpointAfter, checkColumns, duplicateKeyError, nullCursorError, sourceSql, startAt } from './keyset';
import { connectError, describeUrl } from './connect-error';

export const postgresReader = defineExtractor({
  kind: 'postgres',
  description: 'Reads a PostgreSQL table or query in a read-only snapshot, streamed with COPY.',
  config: readConfig('postgres'),
  create: (config, ctx) => new PostgresReader(config, ctx),
});

interface Column {
  name: string;
  /** `format_type` of the column's type, used to cast bound checkpoint values back. */
  type: string;
  typname: string;
  category: string;
  nullable: boolean;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const NEWLINE = 0x0a;

class PostgresReader implements Extractor {
  private client: pg.Client | undefined;
  private columns: Column[] = [];
  /** A COPY is under way (or was stopped before its end) on the connection. */
  private copying = false;
  private readonly where: { pipeline: string; source: string };

  constructor(
    private readonly config: ReadConfig,
    private readonly ctx: ExtractContext,
  ) {
    this.where = { pipeline: ctx.pipeline, source: ctx.source };
  }

  private get from(): string {
    return sourceSql(this.config, ident);
  }

  async open(): Promise<Field[]> {
    const client = new pg.Client({ connectionString: this.config.url, application_name: 'sluice' });
    client.on('error', () => undefined); // a dropped connection surfaces through the pending query instead
    try {
      await client.connect();
    } catch (err) {
      throw connectError('postgres', this.config.url, err, this.where);
    }
    this.client = client;
    await this.sql(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
       SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601';`,
    );
    const probe = await this.probe();
    const oids = [...new Set(probe.fields.map((f) => f.dataTypeID))];
    const types = await this.sql<{ oid: number; name: string; typname: string; category: string }>(
      `SELECT t.oid::int AS oid, format_type(t.oid, NULL) AS name, t.typname, t.typcategory AS category
         FROM pg_type t WHERE t.oid = ANY($1::oid[])`,
      [oids],
    );
    const byOid = new Map(types.rows.map((t) => [t.oid, t]));
    const notNull = await this.notNullColumns();
    this.columns = probe.fields.map((f) => {
      const t = byOid.get(f.dataTypeID)!;
      return { name: f.name, type: t.name, typname: t.typname, category: t.category, nullable: !notNull.has(f.name) };
    });
    const names = this.columns.map((c) => c.name);
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) throw new SluiceError('SLUICE_SOURCE_COLUMN', msg('err.extract.read.postgres.1', { where: this.label, n }), this.where);
      seen.add(n);
    }
    checkColumns(this.where, this.config, this.ctx.tenant, names);
    await this.checkKeyUnique();
    if (this.config.cursor) await this.checkNoNullCursor(this.config.cursor);
    return this.columns.map(fieldOf);
  }

  private get label(): string {
    return `${this.where.pipeline}/${this.where.source}`;
  }

  private async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.client!.query<R>(text, values);
    } catch (err) {
      throw queryError(this.label, err, this.where);
    }
  }

  /** The source's columns. A syntax error in a `query` is reported at its place in the user's query. */
  private async probe(): Promise<pg.QueryResult> {
    const prefix = 'SELECT * FROM (';
    const sql = this.config.query ? `${prefix}${this.from.slice(1, -1)}) AS s LIMIT 0` : `SELECT * FROM ${this.from} AS s LIMIT 0`;
    try {
      return await this.client!.query(sql);
    } catch (err) {
      const at = Number((err as { position?: string }).position);
      if (!this.config.query || !at) throw queryError(this.label, err, this.where);
      const offset = at - 1 - prefix.length;
      const query = this.from.slice(1, -1);
      throw new SluiceError('SLUICE_SOURCE_QUERY', msg('err.extract.read.postgres.2', { where: this.label, reason: messageOf(err), value: offset + 1, value2: query.slice(Math.max(0, offset - 20), offset), value3: query.slice(offset, offset + 30) }),
        this.where,
        { cause: err },
      );
    }
  }

  private async notNullColumns(): Promise<Set<string>> {
    if (!this.config.table) return new Set();
    const r = await this.sql<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnotnull AND attnum > 0 AND NOT attisdropped`,
      [this.from],
    );
    return new Set(r.rows.map((x) => x.attname));
  }

  /** A unique index on (a subset of) the key columns proves uniqueness; otherwise count duplicates first. */
  private async checkKeyUnique(): Promise<void> {
    const keys = this.config.key;
    if (this.config.table) {
      const r = await this.sql<{ cols: string[] }>(
        `SELECT array_agg(a.attname::text) AS cols
           FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
          WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL
          GROUP BY i.indexrelid`,
        [this.from],
      );
      if (r.rows.some((ix) => ix.cols.every((c) => keys.includes(c)))) return;
    }
    const cols = keys.map((k) => `s.${ident(k)}`).join(', ');
    const dups = await this.sql<{ k: string }>(
      `SELECT concat_ws(',', ${cols}) AS k FROM ${this.from} AS s GROUP BY ${cols} HAVING count(*) > 1 LIMIT 5`,
    );
    if (dups.rows.length > 0) throw duplicateKeyError(this.where, dups.rows.map((d) => d.k), dups.rows.length);
  }

  private async checkNoNullCursor(cursor: string): Promise<void> {
    if (!this.columns.find((c) => c.name === cursor)!.nullable) return;
    const r = await this.sql<{ n: string }>(`SELECT count(*) AS n FROM ${this.from} AS s WHERE s.${ident(cursor)} IS NULL`);
    const n = Number(r.rows[0]!.n);
    if (n > 0) {
      throw nullCursorError(this.where, n, cursor);
    }
  }

  async *extract(from?: Checkpoint): AsyncGenerator<Batch> {
    const { cursor, key, batchSize } = this.config;
    const order = [...(cursor ? [cursor] : []), ...key];
    const typeOf = (name: string) => this.columns.find((c) => c.name === name)!.type;
    const setting = (i: number, name: string) => `current_setting('sluice.p${i}')::${typeOf(name)}`;
    const start = startAt(this.config, from);
    const settings: string[] = [];
    let where = '';
    if (start.kind === 'after') {
      settings.push(...[...(cursor ? [start.cursor] : []), ...start.key].map((v) => String(v)));
      where = `WHERE (${order.map((c) => `s.${ident(c)}`).join(', ')}) > (${order.map((c, i) => setting(i, c)).join(', ')})`;
    } else if (start.kind === 'lookback') {
      const col = this.columns.find((c) => c.name === cursor)!;
      const back = col.category === 'D' ? `(current_setting('sluice.p1') || ' seconds')::interval` : `current_setting('sluice.p1')::numeric`;
      settings.push(String(start.cursor), String(start.lookback));
      where = `WHERE s.${ident(cursor!)} >= ${setting(0, cursor!)} - ${back}`;
    }
    if ('value' in this.ctx.tenant) settings.push(this.ctx.tenant.value);
    if (settings.length > 0) {
      const calls = settings.map((_, i) => `set_config('sluice.p${i}', $${i + 1}, true)`);
      if ('value' in this.ctx.tenant) calls[calls.length - 1] = `set_config('sluice.tenant', $${settings.length}, true)`;
      await this.sql(`SELECT ${calls.join(', ')}`, settings);
    }
    const sql = `COPY (SELECT ${this.tenantExpr()}, ${this.keyExpr()}, ${cursor ? `s.${ident(cursor)}::text` : 'NULL'}, ${this.recordJson('row_to_json(d)::text')}
      FROM ${this.from} AS s CROSS JOIN LATERAL (SELECT ${this.columns.map(projection).join(', ')}) AS d
      ${where} ORDER BY ${order.map((c) => `s.${ident(c)}`).join(', ')}) TO STDOUT`;
    const stream = this.client!.query(copyTo(sql));
    this.copying = true;
    const abort = () => stream.destroy(new SluiceError('SLUICE_RUN_CANCELLED', msg('err.extract.read.postgres.3', { where: this.label }), this.where));
    this.ctx.signal.addEventListener('abort', abort, { once: true });
    try {
      for await (const { data, count } of cutLines(stream as AsyncIterable<Buffer>, batchSize)) {
        yield this.copyBatch(data, count);
        this.ctx.signal.throwIfAborted();
      }
      this.copying = false;
      if (!cursor) yield { rows: { kind: 'copy', data: [], count: 0 }, checkpoint: fullReadDone(this.config) };
    } catch (err) {
      throw queryError(this.label, err, this.where);
    } finally {
      this.ctx.signal.removeEventListener('abort', abort);
      if (!stream.destroyed) stream.destroy();
    }
  }

  /**
   * A record is one line of JSON Lines, but a `json` value keeps its text as written, line breaks between
   * its tokens included (composite values can hold one). A line break outside a string is white space
   * (JSON strings cannot hold a raw one), so it becomes a space: the same JSON on one line. Other types
   * never print a raw line break, and their rows are left as they are (the replace reads every byte).
   */
  private recordJson(json: string): string {
    const mayBreakLines = this.columns.some((c) => c.typname === 'json' || c.typname === '_json' || c.category === 'C');
    return mayBreakLines ? `translate(${json}, E'\\r\\n', '  ')` : json;
  }

  /** A batch of COPY lines, with the checkpoint read from its last line. */
  private copyBatch(data: Buffer[], count: number): Batch {
    const last = decodeCopyRecord(lastLine(data));
    const keyParts = this.config.key.length === 1 ? [last.key] : (JSON.parse(last.key) as string[]);
    return { rows: { kind: 'copy', data, count }, checkpoint: checkpointAfter(this.config, last.cursor as Json, keyParts) };
  }

  private tenantExpr(): string {
    const t = this.ctx.tenant;
    return 'value' in t ? `current_setting('sluice.tenant')` : `s.${ident(t.column)}::text`;
  }

  /** The staged key: one column's text, or a JSON array of texts; NULL (an error downstream) if any part is NULL. */
  private keyExpr(): string {
    const parts = this.config.key.map((k) => `s.${ident(k)}`);
    if (parts.length === 1) return `${parts[0]}::text`;
    return `CASE WHEN ${parts.map((p) => `${p} IS NULL`).join(' OR ')} THEN NULL ELSE '[' || concat_ws(',', ${parts
      .map((p) => `to_json(${p}::text)`)
      .join(', ')}) || ']' END`;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // A COPY stopped half-way holds the connection: a ROLLBACK would wait behind the rest of the table
    // forever. Closing the connection ends the query, and the server rolls the transaction back.
    if (!this.copying) await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * Cuts a COPY byte stream into runs of `size` whole lines, holding at most one run in memory. A run is
 * the chunks as they arrived (sliced at its ends), never copied into one buffer.
 */
export async function* cutLines(stream: AsyncIterable<Buffer>, size: number): AsyncGenerator<{ data: Buffer[]; count: number }> {
  let parts: Buffer[] = [];
  let count = 0;
  for await (const chunk of stream) {
    let partStart = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, nl + 1)) {
      if (++count === size) {
        parts.push(chunk.subarray(partStart, nl + 1));
        yield { data: parts, count };
        parts = [];
        count = 0;
        partStart = nl + 1;
      }
    }
    if (partStart < chunk.length) parts.push(chunk.subarray(partStart));
  }
  if (count > 0) yield { data: parts, count };
}

/** The last line (without its newline) of data made of whole lines, however it is split into buffers. */
export function lastLine(parts: readonly Buffer[]): string {
  const tail: Buffer[] = [];
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = i === parts.length - 1 ? parts[i]!.subarray(0, -1) : parts[i]!; // drop the final newline
    const nl = part.lastIndexOf(NEWLINE);
    tail.unshift(part.subarray(nl + 1));
    if (nl !== -1) break;
  }
  return Buffer.concat(tail).toString('utf8');
}

/** How a column appears in the record's JSON: casts that keep values exact and readable. */
function projection(c: Column): string {
  const col = `s.${ident(c.name)}`;
  let expr: string;
  switch (c.typname) {
    case 'int8':
    case 'numeric':
    case 'money':
      expr = `${col}::text`;
      break;
    case '_int8':
    case '_numeric':
      expr = `${col}::text[]`;
      break;
    case 'timestamp':
      expr = `${col} AT TIME ZONE 'UTC'`;
      break;
    case 'bytea':
      expr = `translate(encode(${col}, 'base64'), E'\\n', '')`;
      break;
    default:
      expr = col;
  }
  return `${expr} AS ${ident(c.name)}`;
}

function fieldOf(c: Column): Field {
  const base = { name: c.name, sourceType: c.type, nullable: c.nullable };
  switch (c.typname) {
    case 'int2':
    case 'int4':
      return { ...base, type: 'integer' };
    case 'int8':
      return { ...base, type: 'string', format: 'int64' };
    case 'numeric':
    case 'money':
      return { ...base, type: 'string', format: 'decimal' };
    case 'float4':
    case 'float8':
      return { ...base, type: 'number' };
    case 'bool':
      return { ...base, type: 'boolean' };
    case 'timestamp':
    case 'timestamptz':
      return { ...base, type: 'string', format: 'date-time' };
    case 'date':
      return { ...base, type: 'string', format: 'date' };
    case 'time':
    case 'timetz':
      return { ...base, type: 'string', format: 'time' };
    case 'bytea':
      return { ...base, type: 'string', format: 'base64' };
    case 'uuid':
      return { ...base, type: 'string', format: 'uuid' };
    case 'json':
    case 'jsonb':
      return { ...base, type: 'json' };
    default:
      if (c.category === 'A') return { ...base, type: 'array' };
      if (c.category === 'C') return { ...base, type: 'object' };
      return { ...base, type: 'string' };
  }
}

function queryError(label: string, err: unknown, where: { pipeline: string; source: string }): SluiceError {
  if (err instanceof SluiceError) return err;
  const pgErr = err as { code?: string; position?: string };
  const readOnly = pgErr.code === '25006' ? ' (the source is read in a read-only transaction: Sluice never writes to it)' : '';
  return new SluiceError('SLUICE_SOURCE_QUERY', msg('err.extract.read.postgres.4', { where: label, reason: messageOf(err), readOnly }), where, { cause: err });
}

export { describeUrl };
