/**
 * What two-way sync keeps in the staging store, per pipeline: the links between the two sides' keys with
 * each record's base (the mapped values both sides held at the last sync), each side's checkpoint and
 * circuit breaker, the conflict queue, the append-only events and each run's counts.
 *
 * `commit` is the one write that moves a sync forward: links, bases, queue, events and a side's
 * checkpoint together, in one transaction, and only after the writes to the sides succeeded.
 */
import type { Checkpoint, Json, JsonObject } from '../core/record';

export type Side = 'a' | 'b';

export type LinkState =
  | 'linked'
  /** a create was sent to that side and its key is not known yet (a crash came between) */
  | 'creating_a'
  | 'creating_b'
  /** the record was deleted on that side and the delete policy left the other one standing */
  | 'gone_a'
  | 'gone_b';

export interface SyncLink {
  id: number;
  aKey: string | null;
  bKey: string | null;
  baseA: JsonObject | null;
  baseB: JsonObject | null;
  state: LinkState;
  /** While creating: the values sent to the side, to recognise the record it made. */
  intent: JsonObject | null;
}

export interface SideState {
  checkpoint: Checkpoint | undefined;
  failures: number;
  openUntil: string | null;
  lastError: string | null;
}

export type ConflictReason = 'conflict' | 'delete_edit' | 'transform' | 'write' | 'custom';
export type ConflictStatus = 'open' | 'resolved' | 'applied' | 'obsolete';

export interface ConflictValues {
  base: { a: JsonObject | null; b: JsonObject | null };
  a: JsonObject | null;
  b: JsonObject | null;
}

export interface SyncConflict {
  id: number;
  linkId: number | null;
  aKey: string | null;
  bKey: string | null;
  reason: ConflictReason;
  /** The conflicting fields, by their a-side names. */
  fields: string[];
  values: ConflictValues;
  detail: string | null;
  status: ConflictStatus;
  resolution: JsonObject | null;
  resolvedBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export type SyncAction = 'changed' | 'create' | 'update' | 'delete' | 'archive' | 'link' | 'unlink' | 'queue' | 'resolve';

export interface SyncEvent {
  linkId: number | null;
  aKey: string | null;
  bKey: string | null;
  side: Side;
  action: SyncAction;
  /** `{ field: [old, new] }` by the side's own field names. */
  changes: Record<string, [Json, Json]>;
  decidedBy: string | null;
}

export interface SyncEventRow extends SyncEvent {
  id: number;
  run: string;
  at: string;
}

/** A link written by a commit: `id` for an existing one, `ref` to learn the id of a new one. */
export type LinkWrite = Omit<SyncLink, 'id'> & ({ id: number } | { ref: string });

/** A queue entry written by a commit: one entry per link (or unlinked key) is open at a time. */
export type ConflictWrite = Omit<SyncConflict, 'id' | 'status' | 'resolution' | 'resolvedBy' | 'createdAt' | 'updatedAt' | 'linkId'> & {
  linkId: number | string | null;
};

export interface SyncCommit {
  links?: LinkWrite[];
  /** Links to forget (both records are gone, or a create is known not to have happened). */
  dropLinks?: number[];
  /** Entries to open (or refresh, when the link already has one open). */
  queue?: ConflictWrite[];
  /** Entries to close: applied (the record was written) or obsolete (the conflict is gone). */
  close?: { id: number; status: 'applied' | 'obsolete' }[];
  /** Events; a `linkId` that is a string is a `ref` of a link written by this commit. */
  events?: (Omit<SyncEvent, 'linkId'> & { linkId: number | string | null })[];
  checkpoint?: { side: Side; value: Checkpoint };
}

export type SideCounts = Record<'created' | 'updated' | 'deleted' | 'conflicts' | 'queued' | 'skipped' | 'failed', number>;

export interface SyncRunRow {
  run: string;
  stats: Record<Side, SideCounts>;
}

export interface SyncStore {
  /** Links of these keys of a side, by that key. */
  links(side: Side, keys: readonly string[]): Promise<Map<string, SyncLink>>;
  /** Links in id order after `after`, a page at a time (for delete detection and `check`). */
  linkPage(after: number, limit: number): Promise<SyncLink[]>;
  /** The same, keys and state only (delete detection reads every link: no bases to decode). */
  linkKeys(after: number, limit: number): Promise<Pick<SyncLink, 'id' | 'aKey' | 'bKey' | 'state'>[]>;
  /** Links whose create did not finish. */
  unfinishedCreates(): Promise<SyncLink[]>;
  /** Linked records, and of them those with a key on each side (kept by the commits: nothing is counted). */
  linkCounts(): Promise<{ linked: number } & Record<Side, number>>;
  /** Entries waiting for a person, and entries (open or resolved) of records no link knows, per side. */
  queueCounts(): Promise<{ open: number; unlinked: Record<Side, number> }>;
  sides(): Promise<Record<Side, SideState>>;
  saveSide(side: Side, state: Partial<Omit<SideState, 'checkpoint'>>): Promise<void>;
  /** Writes one step of a sync in one transaction; returns the ids of links written by `ref`. */
  commit(run: string, change: SyncCommit): Promise<Map<string, number>>;
  /** Queue entries; `retry`: the ones a run tries again (resolved, or a failed write, conversion or module). */
  conflicts(q: { status?: ConflictStatus[]; id?: number; linkIds?: number[]; limit?: number; retry?: boolean }): Promise<SyncConflict[]>;
  /** Marks an open entry resolved (applied on the next run); false when it is not open any more. */
  resolve(id: number, resolution: JsonObject, by: string): Promise<boolean>;
  saveRun(run: string, stats: SyncRunRow['stats']): Promise<void>;
  runs(limit: number): Promise<SyncRunRow[]>;
  /** Events of a record (by its key on `side`, or on either side), newest last: the latest `limit`, or all. */
  events(q: { key?: string; side?: Side; since?: string; limit?: number }): Promise<SyncEventRow[]>;
}
