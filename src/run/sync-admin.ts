/**
 * What people do with a sync pipeline's state besides running it: look at the conflict queue and settle
 * entries (applied by the next run, and audited), read a record's history.
 */
import { SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import type { JsonObject } from '../core/record';
import type { StagingStore } from '../stage/store';
import type { SyncConflict, SyncEventRow } from '../stage/sync-store';
import { replayEvents } from '../sync/replay';
import { withExistingStore, type Where } from './existing-store';
import type { Pipeline } from './pipeline';

export async function listConflicts(pipeline: Pipeline, q: { all?: boolean; limit: number }, opts: Where = {}): Promise<SyncConflict[]> {
  return withExistingStore(pipeline, opts, false, (store) => store.sync(pipeline.name).conflicts({ ...(q.all ? {} : { status: ['open', 'resolved'] }), limit: q.limit }));
}

export async function showConflict(pipeline: Pipeline, id: number, opts: Where = {}): Promise<SyncConflict> {
  return withExistingStore(pipeline, opts, false, async (store) => {
    const [c] = await store.sync(pipeline.name).conflicts({ id });
    if (!c) throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.no_conflict', { pipeline: pipeline.name, id }), { pipeline: pipeline.name });
    return c;
  });
}

export interface ResolveInput {
  /** Every conflicting field (or, for a delete against an edit, the record) from this side, or the base. */
  take?: 'a' | 'b' | 'base';
  /** Values for single fields, by their a-side names, in side a's terms. */
  set?: Record<string, unknown>;
}

/**
 * Settles an open entry: every conflicting field gets `take` unless `set` names it. The next run applies
 * it, if the record still holds the values the decision was made on.
 */
export async function resolveConflict(pipeline: Pipeline, id: number, input: ResolveInput, opts: Where = {}): Promise<SyncConflict> {
  return withExistingStore(pipeline, opts, false, (store) => settleConflict(store, pipeline, id, input, opts.actor ?? 'cli'));
}

/** The same on an open store (the API's): checks the entry is open and the input settles it, then keeps it. */
export async function settleConflict(store: StagingStore, pipeline: Pipeline, id: number, input: ResolveInput, by: string): Promise<SyncConflict> {
  const state = store.sync(pipeline.name);
  const [c] = await state.conflicts({ id });
  const where = { pipeline: pipeline.name };
  if (!c || c.status !== 'open') throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.not_open', { pipeline: pipeline.name, id, status: c?.status ?? 'missing' }), where);
  if (c.reason === 'transform' || c.reason === 'write') throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.retried', { id, reason: c.reason, detail: c.detail ?? '' }), where);
  const resolution: JsonObject = {};
  if (c.reason === 'delete_edit') {
    if (input.take !== 'a' && input.take !== 'b') throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.delete_take', { id }), where);
    resolution['*'] = { take: input.take };
  } else {
    for (const field of Object.keys(input.set ?? {})) {
      if (!c.fields.includes(field)) throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.not_conflicting', { id, field, fields: c.fields.join(', ') }), where);
    }
    for (const field of c.fields) {
      if (input.set && Object.hasOwn(input.set, field)) resolution[field] = { value: (input.set[field] ?? null) as JsonObject[string] };
      else if (input.take) resolution[field] = { take: input.take };
      else throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.unsettled', { id, field }), where);
    }
  }
  if (!(await state.resolve(id, resolution, by))) throw new SluiceError('SLUICE_SYNC_CONFLICT', msg('err.sync.admin.not_open', { pipeline: pipeline.name, id, status: 'changed meanwhile' }), where);
  await store.appendAudit({ actor: by, action: 'sync.resolved', pipeline: pipeline.name, detail: { conflict: id, resolution } });
  return { ...c, status: 'resolved', resolution, resolvedBy: by };
}

export interface RecordHistory {
  events: SyncEventRow[];
  /**
   * Each side's mapped values as rebuilt by replaying the events: with a key, all of that record's
   * events, however few of them `since` and `limit` show (a field set once, long ago, is still set).
   */
  state: { a: JsonObject; b: JsonObject };
}

/** `key` is a key on either side, or `side:key` with the side's name (or a/b) to say which. */
export async function recordHistory(pipeline: Pipeline, q: { key?: string; since?: string; limit: number }, opts: Where = {}): Promise<RecordHistory> {
  const sync = pipeline.sync!;
  const prefix = q.key === undefined ? undefined : /^([^:]+):(.*)$/.exec(q.key);
  const side = prefix ? (['a', 'b'] as const).find((id) => prefix[1] === id || prefix[1] === sync[id].name) : undefined;
  const query = { ...q, ...(side ? { key: prefix![2], side } : {}) };
  return withExistingStore(pipeline, opts, false, async (store) => {
    const sync = store.sync(pipeline.name);
    const events = await sync.events(query);
    const whole = q.key === undefined || (q.since === undefined && events.length < q.limit) ? events : await sync.events({ key: query.key, side: query.side });
    return { events, state: replayEvents(whole) };
  });
}
