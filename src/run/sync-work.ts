/**
 * What a sync run plans and reports: the work for one record (planned by the engine, carried out by the
 * writer), the dry run's plan, the counts per side, and what a check finds.
 */
import type { Json, JsonObject } from '../core/record';
import type { SideId, SyncConfig } from '../sync/config';
import type { CustomResolver } from '../sync/custom';
import type { Mapping } from '../sync/mapping';
import type { Side, SideOp, SideRow } from '../sync/side';
import { fieldValue } from '../sync/values';
import type { ConflictReason, SideCounts, SyncConflict, SyncEvent, SyncLink, SyncStore } from '../stage/sync-store';

export interface PlannedUpdate {
  key: string;
  changes: Record<string, [Json, Json]>;
}

export interface SidePlan {
  name: string;
  creates: { from: string; values: JsonObject }[];
  updates: PlannedUpdate[];
  deletes: string[];
  archives: PlannedUpdate[];
}

export interface PlannedConflict {
  aKey: string | null;
  bKey: string | null;
  reason: ConflictReason;
  fields: string[];
  detail: string | null;
  values: SyncConflict['values'];
}

export interface SyncPlan {
  a: SidePlan;
  b: SidePlan;
  conflicts: PlannedConflict[];
}

/** One drifted record, as `sluice check` shows it. */
export interface DriftExample {
  aKey: string | null;
  bKey: string | null;
  /** The side the linked record is missing from. */
  missing?: SideId;
  /** The side a record no link knows is on. */
  unlinked?: SideId;
  /** Fields that differ, by their a-side names: `[a value, b value]`. */
  fields?: Record<string, [Json, Json]>;
}

/** What `sluice check` found: links whose record is missing or differs on a side, records no link knows. */
export interface DriftReport {
  links: number;
  /** Linked pairs whose mapped fields differ. */
  differing: number;
  missing: Record<SideId, number>;
  unlinked: Record<SideId, number>;
  /** The first few, to look at. */
  examples: DriftExample[];
}

export const emptyCounts = (): SideCounts => ({ created: 0, updated: 0, deleted: 0, conflicts: 0, queued: 0, skipped: 0, failed: 0 });

export interface EngineContext {
  run: string;
  config: SyncConfig;
  mapping: Mapping;
  sides: Record<SideId, Side>;
  state: SyncStore;
  custom?: CustomResolver;
  /** Plans instead of writing: nothing is sent to the sides or committed to the store. */
  dryRun: boolean;
  signal: AbortSignal;
  onBatch?(side: SideId, rows: number): void;
}

/** What happens to one record in a batch, before the writes are sent. */
export interface Work {
  /** The side whose change (or queue entry, or delete) brought the record here: counts go to it. */
  from: SideId;
  link?: SyncLink;
  /** The records as read now (absent: gone on that side). */
  rows: Partial<Record<SideId, SideRow>>;
  ops: Partial<Record<SideId, SideOp>>;
  /** Conflicting fields left waiting: their old base is kept, marked as waiting. */
  keep?: { waiting: string[] };
  queue?: { reason: ConflictReason; fields: string[]; detail: string | null };
  /** Queue entries this record's outcome closes. */
  close: { id: number; status: 'applied' | 'obsolete' }[];
  events: Omit<SyncEvent, 'linkId' | 'aKey' | 'bKey'>[];
  /** A link that ends: both records gone, or one deleted by the policy. */
  drop?: boolean;
  /** The link's state after the writes. */
  state?: SyncLink['state'];
  /** A create to the other side: the link is noted before it is sent. */
  create?: { to: SideId; ref: string };
}

/** Events that say a write was made: kept only when it was. */
export const WRITES = new Set<SyncEvent['action']>(['create', 'update', 'delete', 'archive']);

/** A record's fields as events write what was first seen: `[null, value]` each. */
export function firstSeen(data: JsonObject, fields: readonly string[]): Record<string, [Json, Json]> {
  return Object.fromEntries(fields.map((f) => [f, [null, fieldValue(data, f)]]));
}

export function emptySidePlan(name: string): SidePlan {
  return { name, creates: [], updates: [], deletes: [], archives: [] };
}
