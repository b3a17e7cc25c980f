/**
 * Keyset reading, shared by the SQL readers. Every read is ordered by `(cursor, key...)` (or by the key
 * alone for a full read) and resumes strictly after the last pair committed, so rows that share a cursor
 * value are never skipped or read twice, whatever the batch size.
 *
 * Checkpoints (owned by the readers):
 * - `{ mode: 'cursor', cursor, key }`: an incremental read; the next one starts after `(cursor, key)`.
 * - `{ mode: 'full', key, done: false }`: a full read in progress; a resumed run goes on after `key`.
 * - `{ mode: 'full', done: true }`: the last full read finished; the next run reads everything again.
 * Values are stored in each driver's own encoding (`encode`/`decode` in the driver).
 */
import { SluiceError } from '../../core/errors';
import { msg } from '../../core/i18n';
import { keyText, type Batch, type Checkpoint, type Json, type SourceRecord } from '../../core/record';
import type { TenantRule } from '../../config/parts';
import type { ReadConfig } from './config';

export type ReadCheckpoint = (
  | { mode: 'cursor'; cursor: Json; key: Json[] }
  | { mode: 'full'; key: Json[] | null; done: boolean }
) & {
  /** the cursor and key columns the position is in; a checkpoint in other columns is not resumed */
  order?: string[];
};

/** Where a read starts. */
export type StartAt =
  | { kind: 'beginning' }
  /** strictly after `(cursor, key...)`, or after `key...` for a full read */
  | { kind: 'after'; cursor: Json | undefined; key: Json[] }
  /** every row with cursor ≥ `cursor - lookback` (a look-back re-read; no key tie-break) */
  | { kind: 'lookback'; cursor: Json; lookback: number };

export function startAt(config: ReadConfig, from: Checkpoint | undefined): StartAt {
  const saved = from as ReadCheckpoint | undefined;
  // A checkpoint taken with other key or cursor columns says nothing about this order: read it all again
  // (unchanged records are recognised by their hash and not staged twice).
  const cp = saved && JSON.stringify(saved.order) === JSON.stringify(orderOf(config)) ? saved : undefined;
  if (config.cursor) {
    if (cp?.mode !== 'cursor') return { kind: 'beginning' };
    if (config.lookback) return { kind: 'lookback', cursor: cp.cursor, lookback: config.lookback };
    return { kind: 'after', cursor: cp.cursor, key: cp.key };
  }
  if (cp?.mode === 'full' && !cp.done && cp.key) return { kind: 'after', cursor: undefined, key: cp.key };
  return { kind: 'beginning' };
}

export function checkpointAfter(config: ReadConfig, cursor: Json | undefined, key: Json[]): Checkpoint {
  const order = orderOf(config);
  return config.cursor ? { mode: 'cursor', cursor: cursor ?? null, key, order } : { mode: 'full', key, done: false, order };
}

/** The checkpoint a full read commits when it has read everything, so the next run starts over. */
export function fullReadDone(config: ReadConfig): Checkpoint {
  return { mode: 'full', key: null, done: true, order: orderOf(config) };
}

/** The columns a read is ordered by: the cursor (if any), then the key. */
export function orderOf(config: ReadConfig): string[] {
  return [...(config.cursor ? [config.cursor] : []), ...config.key];
}


/** Reads a record's key, tenant and cursor from a row of plain values. */
export interface RowShape {
  key: readonly string[];
  cursor: string | undefined;
  tenant: TenantRule;
}

export function recordOf(
  row: Record<string, unknown>,
  shape: RowShape,
  json: string,
  where: { pipeline: string; source: string },
): SourceRecord {
  const parts = shape.key.map((k) => {
    const v = row[k];
    if (v === null || v === undefined) {
      throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.extract.read.keyset.1', { pipeline: where.pipeline, source: where.source, k }), where);
    }
    return valueText(v);
  });
  const key = keyText(parts);
  let tenant: string;
  if ('value' in shape.tenant) tenant = shape.tenant.value;
  else {
    const v = row[shape.tenant.column];
    if (v === null || v === undefined) {
      throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.extract.read.keyset.2', { pipeline: where.pipeline, source: where.source, key, column: shape.tenant.column }),
        { ...where, key },
      );
    }
    tenant = valueText(v);
  }
  let cursor: string | null = null;
  if (shape.cursor) {
    const v = row[shape.cursor];
    if (v === null || v === undefined) {
      throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.extract.read.keyset.3', { pipeline: where.pipeline, source: where.source, key, cursor: shape.cursor }),
        { ...where, key, hint: 'use a NOT NULL cursor column, or a query with coalesce(...)' },
      );
    }
    cursor = valueText(v);
  }
  return { tenant, key, cursor, json, op: 'upsert' };
}

function valueText(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/**
 * Cuts a stream of rows into batches of `size`, each with the checkpoint after its last row.
 * Rows are converted as they arrive; at most one batch is held at a time.
 */
export async function* inBatches<Row>(
  rows: AsyncIterable<Row> | Iterable<Row>,
  size: number,
  toRecord: (row: Row) => SourceRecord,
  checkpointOf: (row: Row) => Checkpoint,
  signal: AbortSignal,
): AsyncGenerator<Batch> {
  let records: SourceRecord[] = [];
  let last: Row | undefined;
  for await (const row of rows) {
    records.push(toRecord(row));
    last = row;
    if (records.length >= size) {
      yield { rows: { kind: 'records', records }, checkpoint: checkpointOf(last) };
      records = [];
      signal.throwIfAborted();
    }
  }
  if (records.length > 0) yield { rows: { kind: 'records', records }, checkpoint: checkpointOf(last!) };
}

/** Finds the first duplicate key in a source without a unique constraint on the key, before anything is staged. */
export function duplicateKeyError(where: { pipeline: string; source: string }, keys: string[], count: number): SluiceError {
  const shown = keys.slice(0, 5).join(', ');
  return new SluiceError('SLUICE_SOURCE_DUPLICATE_KEY', msg('err.extract.read.keyset.4', { pipeline: where.pipeline, source: where.source, count, shown }),
    { ...where, key: keys[0], hint: 'choose key columns that identify one row, or fix the duplicates in the source' },
  );
}

/** The SQL a read selects from: the quoted table, or the user's query as a derived table. */
export function sourceSql(config: ReadConfig, quote: (name: string) => string): string {
  return config.table ? config.table.split('.').map(quote).join('.') : `(${config.query!.trim().replace(/;+\s*$/, '')})`;
}

/** Every key, cursor and tenant column the configuration names must be among the source's columns. */
export function checkColumns(where: { pipeline: string; source: string }, config: ReadConfig, tenant: TenantRule, columns: readonly string[]): void {
  const wanted: [string, string][] = [
    ...config.key.map((k): [string, string] => ['key', k]),
    ...(config.cursor ? [['cursor', config.cursor] as [string, string]] : []),
    ...('column' in tenant ? [['tenant', tenant.column] as [string, string]] : []),
  ];
  for (const [role, column] of wanted) {
    if (!columns.includes(column)) {
      throw new SluiceError('SLUICE_SOURCE_COLUMN', msg('err.extract.read.keyset.5', { pipeline: where.pipeline, source: where.source, role, column, value: columns.join(', ') }),
        where,
      );
    }
  }
}

export function nullCursorError(where: { pipeline: string; source: string }, rows: number, cursor: string): SluiceError {
  return new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.extract.read.keyset.6', { pipeline: where.pipeline, source: where.source, rows, cursor }),
    { ...where, hint: 'use a NOT NULL cursor column, or a query with coalesce(...)' },
  );
}
