/** Two-way sync's state (migration 014) on knex, for both stores. See ../sync-store.ts for the contract. */
import type { Knex } from 'knex';
import type { Checkpoint, JsonObject } from '../../core/record';
import { parseLossless, stringifyLossless } from '../../core/json-text';
import type {
  ConflictStatus,
  ConflictWrite,
  Side,
  SideState,
  SyncCommit,
  SyncConflict,
  SyncEvent,
  SyncEventRow,
  SyncLink,
  SyncRunRow,
  SyncStore,
} from '../sync-store';
import { JSON_CHUNK, linkCounts, writeLinks, type LinkTally } from './sync-links';

const CHUNK = 500;
/** Queue entries every run tries again by itself: a failed write or conversion, a module that failed. */
const RETRIED = ['write', 'transform', 'custom'];
/**
 * Events per INSERT: ten columns each, inside PostgreSQL's bound-parameter limit; SQLite's inserts of
 * many rows are compound SELECTs, which it allows 500 terms.
 */
const EVENT_CHUNK = { pg: 5000, sqlite: 500 };
/** What a SyncLink is read from: not its time, which would be parsed into a Date for every link and never used. */
const LINK_COLUMNS = ['id', 'a_key', 'b_key', 'base_a', 'base_b', 'state', 'intent'];
const now = () => new Date().toISOString();
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v));
// bases, values and changes keep integers past 2^53 whole (as BigInts in memory, see `core/json-text`)
const json = <T>(v: unknown): T | null => (v === null || v === undefined ? null : (parseLossless(String(v)) as T));
const text = (v: unknown): string => stringifyLossless(v);

/** Links made since the statistics were last refreshed, past which `tune` refreshes them. */
const TUNE_AFTER = 5000;

export class KnexSyncStore implements SyncStore {
  private grown = 0;

  constructor(
    private readonly knex: Knex,
    private readonly pipeline: string,
  ) {}

  async links(side: Side, keys: readonly string[]): Promise<Map<string, SyncLink>> {
    const out = new Map<string, SyncLink>();
    const column = side === 'a' ? 'a_key' : 'b_key';
    const pg = this.knex.client.config.client === 'pg';
    // PostgreSQL takes the keys as one array parameter; SQLite as a list, in chunks
    const step = pg ? keys.length || 1 : CHUNK;
    for (let i = 0; i < keys.length; i += step) {
      const chunk = keys.slice(i, i + step);
      const q = this.knex('sluice_sync_links').where({ pipeline: this.pipeline }).select(LINK_COLUMNS);
      const rows = await (pg ? q.whereRaw(`${column} = any(?::text[])`, [chunk as string[]]) : q.whereIn(column, chunk));
      for (const r of rows) out.set(String(r[column]), linkOf(r));
    }
    return out;
  }

  async linkPage(after: number, limit: number): Promise<SyncLink[]> {
    const rows = await this.knex('sluice_sync_links').where({ pipeline: this.pipeline }).where('id', '>', after).orderBy('id').limit(limit).select(LINK_COLUMNS);
    return rows.map(linkOf);
  }

  async unfinishedCreates(): Promise<SyncLink[]> {
    const rows = await this.knex('sluice_sync_links').where({ pipeline: this.pipeline }).whereIn('state', ['creating_a', 'creating_b']).orderBy('id').select(LINK_COLUMNS);
    return rows.map(linkOf);
  }

  linkCounts(): Promise<LinkTally> {
    return linkCounts(this.knex, this.pipeline);
  }

  async sides(): Promise<Record<Side, SideState>> {
    const rows = await this.knex('sluice_sync_sides').where({ pipeline: this.pipeline });
    const empty = (): SideState => ({ checkpoint: undefined, failures: 0, openUntil: null, lastError: null });
    const out: Record<Side, SideState> = { a: empty(), b: empty() };
    for (const r of rows) {
      out[r.side as Side] = {
        checkpoint: json<Checkpoint>(r.checkpoint) ?? undefined,
        failures: Number(r.failures),
        openUntil: r.open_until === null ? null : iso(r.open_until),
        lastError: r.last_error ?? null,
      };
    }
    return out;
  }

  async saveSide(side: Side, state: Partial<Omit<SideState, 'checkpoint'>>): Promise<void> {
    const row: Record<string, unknown> = {};
    if (state.failures !== undefined) row.failures = state.failures;
    if (state.openUntil !== undefined) row.open_until = state.openUntil;
    if (state.lastError !== undefined) row.last_error = state.lastError;
    await this.upsertSide(this.knex, side, row);
  }

  private async upsertSide(db: Knex, side: Side, row: Record<string, unknown>): Promise<void> {
    await db('sluice_sync_sides').insert({ pipeline: this.pipeline, side, ...row }).onConflict(['pipeline', 'side']).merge(Object.keys(row));
  }

  async commit(run: string, change: SyncCommit): Promise<Map<string, number>> {
    const ids = await this.write(run, change);
    if (this.grown >= TUNE_AFTER) await this.tune();
    return ids;
  }

  private async write(run: string, change: SyncCommit): Promise<Map<string, number>> {
    return this.knex.transaction(async (tx) => {
      const at = now();
      const ids = await writeLinks(tx, this.pipeline, change.links ?? [], change.dropLinks ?? [], at);
      this.grown += ids.size; // one id for each new link
      const linkId = (id: number | string | null) => (typeof id === 'string' ? (ids.get(id) ?? null) : id);
      await this.queue(tx, (change.queue ?? []).map((q) => ({ ...q, linkId: linkId(q.linkId) })), at);
      await this.closeSettled(tx, change, ids, at);
      await this.rewriteConflicts(tx, change.close ?? [], ['status'], at);
      const events = (change.events ?? []).map(
        (e): EventRow => ({ link_id: linkId(e.linkId), a_key: e.aKey, b_key: e.bKey, side: e.side, action: e.action, changes: text(e.changes), decided_by: e.decidedBy }),
      );
      await this.insertEvents(tx, events, run, at);
      if (change.checkpoint) await this.upsertSide(tx, change.checkpoint.side, { checkpoint: text(change.checkpoint.value) });
      return ids;
    });
  }

  /**
   * A record merged (or gone) without waiting any more has no open conflict: its link's open entries —
   * and, for a record just linked, the entries kept under its key before it had a link — are obsolete.
   */
  private async closeSettled(tx: Knex.Transaction, change: SyncCommit, ids: Map<string, number>, at: string): Promise<void> {
    const waiting = new Set((change.queue ?? []).map((q) => (typeof q.linkId === 'string' ? ids.get(q.linkId) : q.linkId)));
    const settled = [...(change.links ?? []).flatMap((l) => ('id' in l ? [l.id] : [])), ...(change.dropLinks ?? [])].filter((id) => !waiting.has(id));
    for (let i = 0; i < settled.length; i += CHUNK) {
      await tx('sluice_sync_conflicts').where({ pipeline: this.pipeline, status: 'open' }).whereIn('link_id', settled.slice(i, i + CHUNK)).update({ status: 'obsolete', updated_at: at });
    }
    const linked = (change.links ?? []).filter((l) => 'ref' in l && l.state === 'linked');
    const loose = tx('sluice_sync_conflicts').where({ pipeline: this.pipeline, status: 'open' }).whereNull('link_id');
    if (linked.length === 0 || !(await loose.clone().first('id'))) return;
    for (let i = 0; i < linked.length; i += CHUNK) {
      const chunk = linked.slice(i, i + CHUNK);
      const keys = { a: chunk.flatMap((l) => (l.aKey === null ? [] : [l.aKey])), b: chunk.flatMap((l) => (l.bKey === null ? [] : [l.bKey])) };
      await loose
        .clone()
        .where((w) => w.whereIn('a_key', keys.a).orWhereIn('b_key', keys.b))
        .update({ status: 'obsolete', updated_at: at });
    }
  }

  /**
   * Opens queue entries, or refreshes the one a link (or an unlinked key) already has open: the existing
   * entries are found in one query, the new ones inserted many per statement.
   */
  private async queue(tx: Knex.Transaction, entries: (Omit<ConflictWrite, 'linkId'> & { linkId: number | null })[], at: string): Promise<void> {
    if (entries.length === 0) return;
    const identity = (e: { linkId: number | null; aKey: string | null; bKey: string | null }) => (e.linkId !== null ? `l${e.linkId}` : `k${JSON.stringify([e.aKey, e.bKey])}`);
    const existing = new Map<string, number>();
    const linkIds = entries.flatMap((e) => (e.linkId !== null ? [e.linkId] : []));
    for (let i = 0; i < linkIds.length; i += CHUNK) {
      const rows = await tx('sluice_sync_conflicts').where({ pipeline: this.pipeline }).whereIn('status', ['open', 'resolved']).whereIn('link_id', linkIds.slice(i, i + CHUNK)).select('id', 'link_id');
      for (const r of rows) existing.set(`l${r.link_id}`, Number(r.id));
    }
    for (const e of entries.filter((x) => x.linkId === null)) {
      const r = await tx('sluice_sync_conflicts').where({ pipeline: this.pipeline, a_key: e.aKey, b_key: e.bKey }).whereNull('link_id').whereIn('status', ['open', 'resolved']).first('id');
      if (r) existing.set(identity(e), Number(r.id));
    }
    const rowOf = (q: (typeof entries)[number]) => ({ a_key: q.aKey, b_key: q.bKey, reason: q.reason, fields: text(q.fields), values: text(q.values), detail: q.detail, status: 'open', resolution: null, resolved_by: null });
    const fresh: Record<string, unknown>[] = [];
    const refreshed: ({ id: number } & ReturnType<typeof rowOf>)[] = [];
    for (const q of entries) {
      const id = existing.get(identity(q));
      if (id !== undefined) refreshed.push({ id, ...rowOf(q) });
      else fresh.push({ pipeline: this.pipeline, link_id: q.linkId, created_at: at, updated_at: at, ...rowOf(q) });
    }
    await this.rewriteConflicts(tx, refreshed, ['a_key', 'b_key', 'reason', 'fields', 'values', 'detail', 'status', 'resolution', 'resolved_by'], at);
    for (let i = 0; i < fresh.length; i += CHUNK) await tx('sluice_sync_conflicts').insert(fresh.slice(i, i + CHUNK));
  }

  /**
   * Queue entries rewritten by id, these (text) columns of each: on PostgreSQL many per statement, as one
   * JSON parameter (an entry a statement cost a round trip each: a run re-examining a few hundred waiting
   * conflicts made as many); on SQLite, in-process, one at a time.
   */
  private async rewriteConflicts<C extends string>(tx: Knex.Transaction, rows: readonly ({ id: number } & Record<C, string | null>)[], columns: readonly C[], at: string): Promise<void> {
    if (tx.client.config.client !== 'pg') {
      for (const { id, ...row } of rows) await tx('sluice_sync_conflicts').where({ id }).update({ ...row, updated_at: at });
      return;
    }
    const set = columns.map((c) => `"${c}" = v."${c}"`).join(', ');
    const record = columns.map((c) => `"${c}" text`).join(', ');
    // an entry given twice takes its last values, as it would written one at a time
    const last = [...new Map(rows.map((r) => [r.id, r])).values()];
    for (let i = 0; i < last.length; i += JSON_CHUNK) {
      await tx.raw(`UPDATE sluice_sync_conflicts AS c SET ${set}, updated_at = ?::timestamptz FROM json_to_recordset(?::json) AS v(id int, ${record}) WHERE c.id = v.id`, [
        at,
        JSON.stringify(last.slice(i, i + JSON_CHUNK)),
      ]);
    }
  }

  /**
   * Events, many per statement. On PostgreSQL they go as one JSON parameter unpacked by the server:
   * building and binding ten placeholders a row costs more than the insert itself. What every event of
   * the commit shares (pipeline, run, time) is bound once. `changes` travels as a string of JSON, not as
   * JSON: the server would refuse a json value holding U+0000 when it unpacks it.
   */
  private async insertEvents(tx: Knex.Transaction, events: EventRow[], run: string, at: string): Promise<void> {
    if (tx.client.config.client !== 'pg') {
      const rows = events.map((e) => ({ pipeline: this.pipeline, run_id: run, at, ...e }));
      for (let i = 0; i < rows.length; i += EVENT_CHUNK.sqlite) await tx('sluice_sync_events').insert(rows.slice(i, i + EVENT_CHUNK.sqlite));
      return;
    }
    for (let i = 0; i < events.length; i += EVENT_CHUNK.pg) {
      await tx.raw(
        `INSERT INTO sluice_sync_events (pipeline, run_id, at, link_id, a_key, b_key, side, action, changes, decided_by)
         SELECT ?, ?, ?::timestamptz, link_id, a_key, b_key, side, action, changes, decided_by
           FROM json_to_recordset(?::json) AS r(link_id int, a_key text, b_key text, side text, action text, changes text, decided_by text)`,
        [this.pipeline, run, at, JSON.stringify(events.slice(i, i + EVENT_CHUNK.pg))],
      );
    }
  }

  /**
   * After many links were made, the planner's statistics are refreshed: with old ones (a server whose
   * autovacuum has not come by yet) every lookup by key scans the pipeline's links.
   */
  private async tune(): Promise<void> {
    this.grown = 0;
    await this.knex.raw('ANALYZE sluice_sync_links');
  }

  async linkKeys(after: number, limit: number): Promise<Pick<SyncLink, 'id' | 'aKey' | 'bKey' | 'state'>[]> {
    const rows = await this.knex('sluice_sync_links').where({ pipeline: this.pipeline }).where('id', '>', after).orderBy('id').limit(limit).select('id', 'a_key', 'b_key', 'state');
    return rows.map((r: Record<string, unknown>) => ({ id: Number(r.id), aKey: (r.a_key as string | null) ?? null, bKey: (r.b_key as string | null) ?? null, state: r.state as SyncLink['state'] }));
  }

  async queueCounts(): Promise<{ open: number; unlinked: Record<Side, number> }> {
    const r = await this.knex('sluice_sync_conflicts')
      .where({ pipeline: this.pipeline })
      .whereIn('status', ['open', 'resolved'])
      .select(
        this.knex.raw(`sum(case when status = 'open' then 1 else 0 end) as open`),
        this.knex.raw(`sum(case when link_id is null and a_key is not null then 1 else 0 end) as loose_a`),
        this.knex.raw(`sum(case when link_id is null and b_key is not null then 1 else 0 end) as loose_b`),
      )
      .first();
    return { open: Number(r?.open ?? 0), unlinked: { a: Number(r?.loose_a ?? 0), b: Number(r?.loose_b ?? 0) } };
  }

  async conflicts(q: { status?: ConflictStatus[]; id?: number; linkIds?: number[]; limit?: number; retry?: boolean }): Promise<SyncConflict[]> {
    const query = this.knex('sluice_sync_conflicts').where({ pipeline: this.pipeline }).orderBy('id');
    if (q.status) query.whereIn('status', q.status);
    if (q.retry) query.where((w) => w.where('status', 'resolved').orWhere((o) => o.where('status', 'open').whereIn('reason', RETRIED)));
    if (q.id !== undefined) query.where({ id: q.id });
    if (q.linkIds) query.whereIn('link_id', q.linkIds);
    if (q.limit !== undefined) query.limit(q.limit);
    const rows = await query;
    return rows.map((r: Record<string, unknown>) => ({
      id: Number(r.id),
      linkId: r.link_id === null ? null : Number(r.link_id),
      aKey: (r.a_key as string | null) ?? null,
      bKey: (r.b_key as string | null) ?? null,
      reason: r.reason as SyncConflict['reason'],
      fields: json<string[]>(r.fields) ?? [],
      values: json<SyncConflict['values']>(r.values)!,
      detail: (r.detail as string | null) ?? null,
      status: r.status as ConflictStatus,
      resolution: json<JsonObject>(r.resolution),
      resolvedBy: (r.resolved_by as string | null) ?? null,
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    }));
  }

  async resolve(id: number, resolution: JsonObject, by: string): Promise<boolean> {
    const n = await this.knex('sluice_sync_conflicts')
      .where({ pipeline: this.pipeline, id, status: 'open' })
      .update({ status: 'resolved', resolution: text(resolution), resolved_by: by, updated_at: now() });
    return n === 1;
  }

  async saveRun(run: string, stats: SyncRunRow['stats']): Promise<void> {
    await this.knex('sluice_sync_runs').insert({ run_id: run, pipeline: this.pipeline, stats: text(stats) }).onConflict('run_id').merge(['stats']);
  }

  async runs(limit: number): Promise<SyncRunRow[]> {
    const rows = await this.knex('sluice_sync_runs as s')
      .join('sluice_runs as r', 'r.id', 's.run_id')
      .where('s.pipeline', this.pipeline)
      .orderBy('r.started_at', 'desc')
      .limit(limit)
      .select('s.run_id', 's.stats');
    return rows.map((r: Record<string, unknown>) => ({ run: String(r.run_id), stats: json<SyncRunRow['stats']>(r.stats)! }));
  }

  async events(q: { key?: string; side?: Side; since?: string; limit?: number }): Promise<SyncEventRow[]> {
    const query = this.knex('sluice_sync_events').where({ pipeline: this.pipeline }).orderBy('id', 'desc');
    if (q.limit !== undefined) query.limit(q.limit);
    if (q.key !== undefined) {
      // a key names a record on one side (or either); its link's events follow it across key changes
      const sides = q.side ? [`${q.side}_key`] : ['a_key', 'b_key'];
      const byKey = (w: Knex.QueryBuilder) => sides.reduce((acc, column) => acc.orWhere(column, q.key!), w);
      const links = this.knex('sluice_sync_links').where({ pipeline: this.pipeline }).where(byKey).select('id');
      query.where((w) => byKey(w).orWhereIn('link_id', links));
    }
    if (q.since !== undefined) query.where('at', '>=', q.since);
    const rows = await query;
    return rows.reverse().map((r: Record<string, unknown>) => ({
      id: Number(r.id),
      run: String(r.run_id),
      at: iso(r.at),
      linkId: r.link_id === null ? null : Number(r.link_id),
      aKey: (r.a_key as string | null) ?? null,
      bKey: (r.b_key as string | null) ?? null,
      side: r.side as Side,
      action: r.action as SyncEventRow['action'],
      changes: json<SyncEventRow['changes']>(r.changes) ?? {},
      decidedBy: (r.decided_by as string | null) ?? null,
    }));
  }
}

/** An event as a commit writes it, without what all its events share. */
interface EventRow {
  link_id: number | null;
  a_key: string | null;
  b_key: string | null;
  side: Side;
  action: SyncEvent['action'];
  /** JSON text. */
  changes: string;
  decided_by: string | null;
}

function linkOf(r: Record<string, unknown>): SyncLink {
  return {
    id: Number(r.id),
    aKey: (r.a_key as string | null) ?? null,
    bKey: (r.b_key as string | null) ?? null,
    baseA: json<JsonObject>(r.base_a),
    baseB: json<JsonObject>(r.base_b),
    state: r.state as SyncLink['state'],
    intent: json<JsonObject>(r.intent),
  };
}
