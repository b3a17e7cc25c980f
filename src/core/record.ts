/**
 * Terminology
 *
 * - **record**: one row or document from a source, as `{ tenant, source, key, op, cursor, json }`.
 *   `json` is the record's data as JSON text: stages that do not look inside a record never parse it.
 * - **key**: what identifies a record within its source (one column's value as text, or a JSON array of
 *   several columns' values). Records are upserted by `(pipeline, source, key)`.
 * - **tenant**: who a record belongs to. Every staged record carries one; every read of the store names one.
 *   A record that moves to another tenant leaves a tombstone with the one it left.
 * - **batch**: records read together and committed together, with the checkpoint that follows them.
 * - **checkpoint**: an extractor's position *after* a batch, as opaque JSON that only the extractor reads.
 *   It is committed in the same transaction as the batch, so a crash never separates the two.
 * - **run**: one execution of a pipeline: extract → stage → export, recorded with its counts and outcome.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type RecordOp = 'upsert' | 'delete';

/** A record on its way from an extractor to the staging store. */
export interface SourceRecord {
  tenant: string;
  key: string;
  op: RecordOp;
  /** The cursor column's value as text, when the source has a cursor. */
  cursor: string | null;
  /** The data as JSON text (an object). `null` for a delete. */
  json: string | null;
}

/** A record as the staging store holds it. */
export interface StagedRecord extends SourceRecord {
  source: string;
  /** Content hash of `json`, as the store computes it (opaque): equal hashes mean nothing changed. */
  hash: string;
  /** The store's change sequence: it grows each time a record changes, and drives incremental export. */
  seq: number;
  /** The run that last changed this record. */
  run: string;
  /** The refine chain version that made the exported data what it is, when records are read `refined`. */
  refinedBy?: string | null;
}

/** An extractor's position after a batch. Opaque: only the extractor that wrote it reads it. */
export type Checkpoint = JsonObject;

/** The records of a batch, in one of the two shapes a store accepts. */
export type BatchRows =
  /** Records as objects: every source can produce these. */
  | { kind: 'records'; records: SourceRecord[] }
  /**
   * Rows already in PostgreSQL COPY text format, four columns `tenant, key, cursor, json`: `data`
   * concatenated is exactly `count` whole lines.
   * The PostgreSQL reader produces these so a PostgreSQL store can COPY them in without building objects.
   */
  | { kind: 'copy'; data: Buffer[]; count: number };

export interface Batch {
  rows: BatchRows;
  /** The position after this batch. */
  checkpoint: Checkpoint;
}

/** One field of a source's output, as the extractor describes it for manifests. */
export interface Field {
  name: string;
  /** The JSON type of the value in the exported data. */
  type: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'json';
  /** A refinement of `string` values: how to read them back exactly. */
  format?: 'int64' | 'decimal' | 'date-time' | 'date' | 'time' | 'base64' | 'uuid';
  /** The source's own type name (e.g. `numeric(10,2)`, `DATETIME`). */
  sourceType?: string;
  nullable: boolean;
}

export function batchSize(rows: BatchRows): number {
  return rows.kind === 'records' ? rows.records.length : rows.count;
}

/** The staged key of a row: one column's text, or a JSON array of several columns' texts. */
export function keyText(parts: readonly string[]): string {
  return parts.length === 1 ? parts[0]! : JSON.stringify(parts);
}
