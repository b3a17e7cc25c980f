/**
 * A Side is one system two-way sync keeps in step: it says what changed since a checkpoint, reads
 * records by key, and applies creates, updates and deletes. A database table and an HTTP resource are
 * the built-in sides (`sides/`); adding a system is one more module behind this interface.
 *
 * Records cross this boundary as plain objects of the side's own fields. The engine only ever compares
 * values with `sameValue` (values.ts), so a side may read a value back in another spelling of the same
 * thing (a timestamp with another offset, a decimal as a number) without it looking like a change.
 */
import type { SluiceError } from '../core/errors';
import type { Batch, Checkpoint, JsonObject } from '../core/record';

/**
 * Where a side's changes come from: a read or pull extractor, handed in by the runner (sync does not
 * import the extractors). Records arrive as `records` batches with their cursor and JSON.
 */
export interface ChangeFeed {
  open(): Promise<unknown>;
  extract(from?: Checkpoint): AsyncIterable<Batch>;
  close(): Promise<void>;
}

export interface SideRow {
  key: string;
  /** When the record last changed, as the side's cursor says (ISO-8601 or a number as text); null if unknown. */
  changedAt: string | null;
  data: JsonObject;
}

export interface ChangeBatch {
  rows: SideRow[];
  /** The feed's position after these rows. */
  checkpoint: Checkpoint;
}

export type SideOp =
  /** `ref` is the caller's name for the record until the side gives it a key. */
  | { op: 'create'; ref: string; values: JsonObject }
  | { op: 'update'; key: string; values: JsonObject }
  | { op: 'delete'; key: string };

export type ApplyResult =
  /** `row` is the record as the side holds it after the write (null after a delete). */
  | { ok: true; key: string; row: SideRow | null }
  | { ok: false; error: SluiceError };

export interface Side {
  /** The side's name from the pipeline file. */
  readonly name: string;
  /** Connects and checks that every field the mapping names exists; returns the side's fields. */
  open(fields: readonly string[]): Promise<string[]>;
  /** Records changed strictly after `since` (everything without it), in batches, oldest change first. */
  changes(since: Checkpoint | undefined, signal: AbortSignal): AsyncIterable<ChangeBatch>;
  /** The records with these keys as they are now; a key that is missing was deleted. */
  get(keys: readonly string[]): Promise<Map<string, SideRow>>;
  /** Records whose `field` holds one of `values` (for `match`), as field value (text) → row. */
  findBy(field: string, values: readonly string[]): Promise<Map<string, SideRow>>;
  /** How many records the side holds, where that is cheap to ask (lets delete detection skip a scan). */
  count?(): Promise<number>;
  /** Of these keys, the ones the side no longer has. */
  missing(keys: readonly string[]): Promise<string[]>;
  /**
   * Applies the writes of one batch, in order, each one whole or not at all; one that fails does not stop
   * the others. Results are in the order of `ops`.
   */
  apply(ops: readonly SideOp[]): Promise<ApplyResult[]>;
  /**
   * The keys of records this side created under these refs, where the side keeps a ledger written in
   * the same transaction as each create: after a crash, it tells exactly which creates happened. A side
   * without one leaves it out, and the engine recognises a created record by its values instead.
   */
  created?(refs: readonly string[]): Promise<Map<string, string>>;
  close(): Promise<void>;
}
