/**
 * What both staging stores share, on knex: migrations, runs, checkpoints, export bookkeeping and paged
 * reads. The write path (`commit`), the JSON Lines fast path and the run lock are each dialect's own.
 */
import type { Knex } from 'knex';
import { messageOf } from '../core/errors';
import type { Batch, BatchRows, Checkpoint, Field, StagedRecord } from '../core/record';
import { MIGRATION_TABLE, migrationSource } from './migrations';
import { metrics } from '../observe/metrics';
import * as ops from './sql/operations';
import { KnexSyncStore } from './sql/sync';
import type { SyncStore } from './sync-store';
import type {
  AlertStateRow,
  ConnectionRow,
  AuditEntry,
  AuditQuery,
  CommitCounts,
  ExportRow,
  RecordQuery,
  RunRow,
  RunStatus,
  StagingStore,
  StreamRow,
  TenantCount,
  RefinedRow,
  HeldRecord,
  LlmUsageRow,
} from './store';
import type { Delivery, IntakeResult } from './intake';
import * as records from './sql/record-queries';
import * as steps from './sql/step-tables';

/** Tries of a migration that another process is running at the same moment (about 10 s in all). */
const MIGRATE_ATTEMPTS = 14;

/** knex logs pool errors to stdout by itself; Sluice reports them through the errors it throws instead. */
export const QUIET_LOG = { warn() {}, error() {}, deprecate() {}, debug() {} };

export abstract class KnexStore implements StagingStore {
  abstract readonly kind: 'sqlite' | 'postgres';
  abstract readonly accepts: readonly BatchRows['kind'][];
  private readonly streamIds = new Map<string, number>();

  private readonly untrackPool: () => void;

  constructor(
    protected readonly knex: Knex,
    readonly location: string,
  ) {
    const pool = (knex.client as { pool?: { numUsed(): number } }).pool;
    this.untrackPool = metrics.trackPool(location, () => pool?.numUsed() ?? 0);
  }

  abstract lock(pipeline: string): Promise<{ release(): Promise<void> }>;
  abstract commit(run: { id: string; pipeline: string; source: string }, batch: Batch): Promise<CommitCounts>;
  abstract intake(run: { id: string; pipeline: string; source: string }, deliveries: readonly Delivery[]): Promise<IntakeResult[]>;
  abstract contentHashes(json: readonly (string | null)[]): Promise<string[]>;
  abstract readJsonLines(tenant: string, query: Omit<RecordQuery, 'op'>): AsyncIterable<Buffer>;

  async migrate(): Promise<void> {
    const config = { migrationSource, tableName: MIGRATION_TABLE };
    for (let attempt = 1; ; attempt++) {
      try {
        // Up to date (nearly always): nothing to take knex's migration lock for. Taking it anyway is a
        // write, and on SQLite it would wait behind another process's long commit, and fail.
        if (await this.knex.schema.hasTable(MIGRATION_TABLE)) {
          const [, pending] = (await this.knex.migrate.list(config)) as [unknown[], unknown[]];
          if (pending.length === 0) return;
        }
        await this.knex.migrate.latest(config);
        return;
      } catch (err) {
        // two processes making the same new store: one migrates, the other waits for it and looks again
        if (attempt >= MIGRATE_ATTEMPTS || !/already (exists|locked)|is locked|SQLITE_BUSY|MigrationLocked/i.test(`${(err as Error).name} ${messageOf(err)}`)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  async isMigrated(): Promise<boolean> {
    return this.knex.schema.hasTable('sluice_records');
  }

  async startRun(pipeline: string, id: string): Promise<void> {
    await this.knex('sluice_runs')
      .where({ pipeline, status: 'running' })
      .update({ status: 'abandoned', finished_at: now(), error: 'the process running it stopped before it finished' });
    await this.knex('sluice_runs').insert({ id, pipeline, status: 'running', started_at: now() });
  }

  async finishRun(id: string, o: { status: RunStatus; exported?: number; errorCode?: string; error?: string }): Promise<void> {
    await this.knex('sluice_runs')
      .where({ id })
      .update({
        status: o.status,
        finished_at: now(),
        rows_exported: o.exported ?? 0,
        error_code: o.errorCode ?? null,
        error: o.error ?? null,
      });
  }

  async runOutcomes(pipeline: string, since: string): Promise<{ finished: number; failed: number; lastSuccess: string | null }> {
    const window = await this.knex('sluice_runs')
      .where({ pipeline })
      .whereIn('status', ['succeeded', 'failed'])
      .andWhere('finished_at', '>=', since)
      .select(this.knex.raw(`count(*) as finished`), this.knex.raw(`sum(case when status = 'failed' then 1 else 0 end) as failed`))
      .first();
    const last = await this.knex('sluice_runs').where({ pipeline, status: 'succeeded' }).max('finished_at as at').first();
    const at = last?.at as Date | string | null | undefined;
    return { finished: Number(window?.finished ?? 0), failed: Number(window?.failed ?? 0), lastSuccess: at ? new Date(at).toISOString() : null };
  }

  alertStates(pipeline?: string) {
    return ops.alertStates(this.knex, pipeline);
  }

  saveAlertState(next: AlertStateRow) {
    return ops.saveAlertState(this.knex, next);
  }

  appendAudit(entries: AuditEntry | readonly AuditEntry[]) {
    return ops.appendAudit(this.knex, entries);
  }

  audit(query: AuditQuery) {
    return ops.audit(this.knex, query);
  }

  pruneAudit(before: string) {
    return ops.pruneAudit(this.knex, before);
  }

  addApiToken(token: { id: string; name: string; tenant: string | null; hash: string; expiresAt: string | null }) {
    return ops.addApiToken(this.knex, token);
  }

  apiToken(id: string) {
    return ops.apiToken(this.knex, id);
  }

  apiTokens() {
    return ops.apiTokens(this.knex);
  }

  revokeApiToken(id: string) {
    return ops.revokeApiToken(this.knex, id);
  }

  connections(tenant: string | null) {
    return ops.connections(this.knex, tenant);
  }

  connection(id: string, tenant: string | null) {
    return ops.connection(this.knex, id, tenant);
  }

  saveConnection(c: Omit<ConnectionRow, 'createdAt' | 'updatedAt'>) {
    return ops.saveConnection(this.knex, c);
  }

  deleteConnection(id: string, tenant: string | null) {
    return ops.deleteConnection(this.knex, id, tenant);
  }

  sync(pipeline: string): SyncStore {
    return new KnexSyncStore(this.knex, pipeline);
  }

  async run(id: string): Promise<RunRow | undefined> {
    const r = await this.knex('sluice_runs').where({ id }).first();
    return r ? runRow(r) : undefined;
  }

  async resetCheckpoint(pipeline: string, source: string): Promise<Checkpoint | undefined> {
    return this.knex.transaction(async (tx) => {
      const row = await tx('sluice_streams').where({ pipeline, source }).first('checkpoint');
      if (!row) return undefined;
      await tx('sluice_streams').where({ pipeline, source }).update({ checkpoint: null });
      return row.checkpoint ? (JSON.parse(row.checkpoint) as Checkpoint) : undefined;
    });
  }

  async runs(pipeline: string, limit: number): Promise<RunRow[]> {
    const rows = await this.knex('sluice_runs').where({ pipeline }).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit);
    return rows.map(runRow);
  }


  /** The stream id of a pipeline's source, created on first use. */
  protected async streamId(pipeline: string, source: string, { create = true } = {}): Promise<number | undefined> {
    const cacheKey = JSON.stringify([pipeline, source]);
    const cached = this.streamIds.get(cacheKey);
    if (cached !== undefined) return cached;
    let row = await this.knex('sluice_streams').where({ pipeline, source }).first('id');
    if (!row && create) {
      await this.knex('sluice_streams').insert({ pipeline, source }).onConflict(['pipeline', 'source']).ignore();
      row = await this.knex('sluice_streams').where({ pipeline, source }).first('id');
    }
    if (row) this.streamIds.set(cacheKey, row.id);
    return row?.id;
  }

  async checkpoint(pipeline: string, source: string): Promise<Checkpoint | undefined> {
    const row = await this.knex('sluice_streams').where({ pipeline, source }).first('checkpoint');
    return row?.checkpoint ? (JSON.parse(row.checkpoint) as Checkpoint) : undefined;
  }

  async describeStream(pipeline: string, source: string, fields: Field[]): Promise<void> {
    const id = await this.streamId(pipeline, source);
    await this.knex('sluice_streams').where({ id }).update({ fields: JSON.stringify(fields) });
  }

  async streams(pipeline: string): Promise<StreamRow[]> {
    const rows = await this.knex('sluice_streams').where({ pipeline }).orderBy('source');
    return rows.map((r) => ({
      source: r.source,
      checkpoint: r.checkpoint ? JSON.parse(r.checkpoint) : null,
      fields: r.fields ? JSON.parse(r.fields) : null,
      runId: r.run_id,
      highWater: Number(r.high_water),
      updatedAt: iso(r.updated_at),
    }));
  }

  async claimTick(pipeline: string, source: string, tick: string, worker: string): Promise<boolean> {
    const rows = await this.knex('sluice_ticks')
      .insert({ pipeline, source, tick, claimed_by: worker, claimed_at: new Date().toISOString() })
      .onConflict(['pipeline', 'source', 'tick'])
      .ignore()
      .returning('tick');
    return rows.length === 1;
  }

  async stagedHashes(pipeline: string, source: string, keys: string[]): Promise<Map<string, { tenant: string; hash: string }>> {
    const out = new Map<string, { tenant: string; hash: string }>();
    const id = await this.streamId(pipeline, source, { create: false });
    if (id === undefined) return out;
    for (let i = 0; i < keys.length; i += 500) {
      const rows = await this.knex('sluice_records')
        .where({ stream_id: id, op: 'upsert' })
        .whereIn('key', keys.slice(i, i + 500))
        .select('key', 'tenant', 'hash');
      for (const r of rows) out.set(r.key, { tenant: r.tenant, hash: r.hash });
    }
    return out;
  }

  async tenants(pipeline: string): Promise<string[]> {
    const rows = await this.knex('sluice_tenants as t')
      .join('sluice_streams as s', 's.id', 't.stream_id')
      .where('s.pipeline', pipeline)
      .distinct('t.tenant')
      .orderBy('t.tenant');
    return rows.map((r) => r.tenant);
  }

  async refineState(pipeline: string, source: string): Promise<{ through: number; version: string | null }> {
    const row = await this.knex('sluice_streams').where({ pipeline, source }).first('refined_through', 'refine_version');
    return { through: Number(row?.refined_through ?? 0), version: row?.refine_version ?? null };
  }

  async saveRefined(pipeline: string, source: string, rows: readonly RefinedRow[], opts: { bump: boolean; progress?: { through: number; version: string } }): Promise<number> {
    const stream = (await this.streamId(pipeline, source))!;
    return this.knex.transaction(async (tx) => {
      let last = 0;
      // sequences drawn here must commit in order with a concurrent intake's (see intakePostgres)
      if (this.kind === 'postgres' && opts.bump) await tx('sluice_streams').where({ id: stream }).forUpdate().first('id');
      for (const r of rows) {
        const update: Record<string, unknown> = { refined: r.refined, refine_status: r.status, refine_detail: r.detail, refine_version: r.version };
        if (opts.bump) update.seq = last = await this.nextSeq(tx);
        await tx('sluice_records').where({ stream_id: stream, key: r.key, seq: r.seq }).update(update);
      }
      const highWater = opts.bump && rows.length > 0 ? { high_water: await this.currentSeq(tx) } : {};
      const progress = opts.progress ? { refined_through: opts.progress.through, refine_version: opts.progress.version } : {};
      if (Object.keys({ ...highWater, ...progress }).length > 0) await tx('sluice_streams').where({ id: stream }).update({ ...highWater, ...progress });
      return last;
    });
  }

  /** The next change sequence, inside a transaction. */
  protected abstract nextSeq(tx: Knex.Transaction): Promise<number>;
  /** The last change sequence drawn. */
  protected abstract currentSeq(tx: Knex.Transaction): Promise<number>;

  async highWater(pipeline: string, source: string): Promise<number> {
    const row = await this.knex('sluice_streams').where({ pipeline, source }).first('high_water');
    return Number(row?.high_water ?? 0);
  }

  /**
   * Runs one read of a tenant's records. The PostgreSQL store narrows it to that tenant in the
   * database as well (row-level security); here it is the query's own tenant condition alone.
   */
  protected tenantScoped<T>(_tenant: string, read: (db: Knex) => Promise<T>): Promise<T> {
    return read(this.knex);
  }

  async *read(tenant: string, q: RecordQuery): AsyncGenerator<StagedRecord[]> {
    const id = await this.streamId(q.pipeline, q.source, { create: false });
    if (id === undefined) return;
    let after = q.afterSeq;
    for (;;) {
      const page = await this.tenantScoped(tenant, (db) => (q.op === 'upsert' ? records.upsertPage(db, id, tenant, after, q.upToSeq, q) : records.deletePage(db, id, tenant, after, q.upToSeq)));
      if (page.length === 0) return;
      yield page.map((r) => ({
        source: q.source,
        tenant,
        key: r.key,
        op: q.op,
        json: r.data ?? null,
        hash: r.hash ?? '',
        cursor: r.cursor ?? null,
        run: r.run_id,
        seq: Number(r.seq),
        ...(q.refined ? { refinedBy: r.refine_status === 'refined' ? (r.refine_version ?? null) : null } : {}),
      }));
      after = Number(page[page.length - 1]!.seq);
      if (page.length < records.PAGE) return;
    }
  }

  async hasChanges(tenant: string, q: Omit<RecordQuery, 'op'>): Promise<boolean> {
    const stream = await this.streamId(q.pipeline, q.source, { create: false });
    if (stream === undefined) return false;
    // one probe of each table's (stream, tenant, seq) index
    const window = (table: string) => (db: Knex) =>
      db(table).where({ stream_id: stream, tenant }).andWhere('seq', '>', q.afterSeq).andWhere('seq', '<=', q.upToSeq).first('seq');
    return this.tenantScoped(tenant, async (db) => (await window('sluice_records')(db)) !== undefined || (await window('sluice_tombstones')(db)) !== undefined);
  }

  countRecords(pipeline: string): Promise<TenantCount[]> {
    return records.countRecords(this.knex, pipeline);
  }

  held(pipeline: string, q: { source?: string; tenant?: string; key?: string; limit: number }): Promise<HeldRecord[]> {
    return records.heldRecords(this.knex, pipeline, q);
  }

  async leftOut(tenant: string, q: Omit<RecordQuery, 'op'>): Promise<Record<string, number>> {
    const stream = await this.streamId(q.pipeline, q.source, { create: false });
    if (stream === undefined) return {};
    const rows = await this.knex('sluice_records')
      .where({ stream_id: stream, tenant, op: 'upsert' })
      .andWhere('seq', '>', q.afterSeq)
      .andWhere('seq', '<=', q.upToSeq)
      .whereIn('refine_status', ['quarantined', 'filtered', 'pending'])
      .groupBy('refine_status')
      .select('refine_status', this.knex.raw('count(*) as n'));
    return Object.fromEntries(rows.map((r: { refine_status: string; n: number | string }) => [r.refine_status, Number(r.n)]));
  }

  async release(pipeline: string, source: string, keys: readonly string[]): Promise<number> {
    const stream = await this.streamId(pipeline, source, { create: false });
    if (stream === undefined || keys.length === 0) return 0;
    return this.knex.transaction(async (tx) => {
      if (this.kind === 'postgres') await tx('sluice_streams').where({ id: stream }).forUpdate().first('id');
      let n = 0;
      for (const key of keys) {
        // a new change sequence: the next export carries the released record
        const seq = await this.nextSeq(tx);
        n += await tx('sluice_records').where({ stream_id: stream, key }).whereIn('refine_status', ['quarantined', 'failed']).update({ refine_status: 'released', seq });
      }
      if (n > 0) await tx('sluice_streams').where({ id: stream }).update({ high_water: await this.currentSeq(tx) });
      return n;
    });
  }

  labelStudioTasks(pipeline: string, source: string, versions: readonly { key: string; version: string }[]) {
    return steps.labelStudioTasks(this.knex, pipeline, source, versions);
  }

  saveLabelStudioTasks(pipeline: string, source: string, rows: readonly { key: string; version: string; projectId: number; taskId: number }[]) {
    return steps.saveLabelStudioTasks(this.knex, pipeline, source, rows);
  }

  startLabelStudioImports(pipeline: string, source: string, rows: readonly { key: string; version: string; projectId: number }[]) {
    return steps.startLabelStudioImports(this.knex, pipeline, source, rows);
  }

  unfinishedLabelStudioImports(pipeline: string, source: string) {
    return steps.unfinishedLabelStudioImports(this.knex, pipeline, source);
  }

  forgetLabelStudioImports(pipeline: string, source: string, projectId: number) {
    return steps.forgetLabelStudioImports(this.knex, pipeline, source, projectId);
  }

  llmAnswer(key: string) {
    return steps.llmAnswer(this.knex, key);
  }

  saveLlmAnswer(key: string, answer: string) {
    return steps.saveLlmAnswer(this.knex, key, answer);
  }

  recordLlmUsage(run: string, pipeline: string, rows: readonly LlmUsageRow[]) {
    return steps.recordLlmUsage(this.knex, run, pipeline, rows);
  }

  llmUsage(pipeline: string) {
    return steps.llmUsage(this.knex, pipeline);
  }

  async lastExport(pipeline: string, target: string, tenant: string): Promise<ExportRow | undefined> {
    const row = await this.knex('sluice_exports').where({ pipeline, target, tenant }).orderBy('created_at', 'desc').orderBy('id', 'desc').first();
    return row ? exportRow(row) : undefined;
  }

  async addExport(e: ExportRow): Promise<void> {
    await this.knex('sluice_exports').insert({
      id: e.id,
      pipeline: e.pipeline,
      target: e.target,
      tenant: e.tenant,
      dir: e.dir,
      full: e.full,
      seqs: JSON.stringify(e.seqs),
      rows: e.rows,
      run_id: e.runId,
      created_at: e.createdAt,
    });
  }

  async latestExports(pipeline: string): Promise<ExportRow[]> {
    const ranked = this.knex('sluice_exports')
      .where({ pipeline })
      .select('*', this.knex.raw('row_number() over (partition by target, tenant order by created_at desc, id desc) as rank'));
    const rows = await this.knex.from(ranked.as('e')).where('rank', 1).orderBy(['target', 'tenant']);
    return rows.map(exportRow);
  }

  async close(): Promise<void> {
    this.untrackPool();
    await this.knex.destroy();
  }
}

function runRow(r: Record<string, unknown>): RunRow {
  return {
    id: String(r.id),
    pipeline: String(r.pipeline),
    status: r.status as RunStatus,
    startedAt: iso(r.started_at)!,
    finishedAt: iso(r.finished_at),
    read: Number(r.rows_read),
    staged: Number(r.rows_staged),
    unchanged: Number(r.rows_unchanged),
    exported: Number(r.rows_exported),
    errorCode: (r.error_code as string | null) ?? null,
    error: (r.error as string | null) ?? null,
  };
}

function exportRow(r: Record<string, unknown>): ExportRow {
  return {
    id: r.id as string,
    pipeline: r.pipeline as string,
    target: r.target as string,
    tenant: r.tenant as string,
    dir: r.dir as string,
    full: Boolean(r.full),
    seqs: JSON.parse(r.seqs as string),
    rows: Number(r.rows),
    runId: (r.run_id as string) ?? null,
    createdAt: iso(r.created_at)!,
  };
}

function now(): string {
  return new Date().toISOString();
}

/** Timestamps come back as Date (PostgreSQL) or text (SQLite): one ISO string either way. */
function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return new Date(v).toISOString();
  return String(v);
}
