/**
 * What both staging stores share, on knex: migrations, runs, checkpoints, export bookkeeping and paged
 * reads. The write path (`commit`), the JSON Lines fast path and the run lock are each dialect's own.
 */
import type { Knex } from 'knex';
import type { Batch, BatchRows, Checkpoint, Field, StagedRecord } from '../core/record';
import { MIGRATION_TABLE, migrationSource } from './migrations';
import type {
  CommitCounts,
  ExportRow,
  RecordQuery,
  RunRow,
  RunStatus,
  StagingStore,
  StreamRow,
  TenantCount,
} from './store';

const PAGE = 5000;

/** knex logs pool errors to stdout by itself; Sluice reports them through the errors it throws instead. */
export const QUIET_LOG = { warn() {}, error() {}, deprecate() {}, debug() {} };

export abstract class KnexStore implements StagingStore {
  abstract readonly kind: 'sqlite' | 'postgres';
  abstract readonly accepts: readonly BatchRows['kind'][];
  private readonly streamIds = new Map<string, number>();

  constructor(
    protected readonly knex: Knex,
    readonly location: string,
  ) {}

  abstract lock(pipeline: string): Promise<{ release(): Promise<void> }>;
  abstract commit(run: { id: string; pipeline: string; source: string }, batch: Batch): Promise<CommitCounts>;
  abstract readJsonLines(tenant: string, query: Omit<RecordQuery, 'op'>): AsyncIterable<Buffer>;

  async migrate(): Promise<void> {
    await this.knex.migrate.latest({ migrationSource, tableName: MIGRATION_TABLE });
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

  async runs(pipeline: string, limit: number): Promise<RunRow[]> {
    const rows = await this.knex('sluice_runs').where({ pipeline }).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit);
    return rows.map((r) => ({
      id: r.id,
      pipeline: r.pipeline,
      status: r.status,
      startedAt: iso(r.started_at)!,
      finishedAt: iso(r.finished_at),
      read: Number(r.rows_read),
      staged: Number(r.rows_staged),
      unchanged: Number(r.rows_unchanged),
      exported: Number(r.rows_exported),
      errorCode: r.error_code,
      error: r.error,
    }));
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
      updatedAt: iso(r.updated_at),
    }));
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

  async highWater(pipeline: string, source: string): Promise<number> {
    const row = await this.knex('sluice_streams').where({ pipeline, source }).first('high_water');
    return Number(row?.high_water ?? 0);
  }

  async *read(tenant: string, q: RecordQuery): AsyncGenerator<StagedRecord[]> {
    const id = await this.streamId(q.pipeline, q.source, { create: false });
    if (id === undefined) return;
    let after = q.afterSeq;
    for (;;) {
      const rows = await this.knex('sluice_records')
        .where({ stream_id: id, tenant, op: q.op })
        .andWhere('seq', '>', after)
        .andWhere('seq', '<=', q.upToSeq)
        .orderBy('seq')
        .limit(PAGE)
        .select('key', 'tenant', 'op', 'data', 'hash', 'cursor', 'run_id', 'seq');
      if (rows.length === 0) return;
      yield rows.map((r) => ({
        source: q.source,
        tenant: r.tenant,
        key: r.key,
        op: r.op,
        json: r.data,
        hash: r.hash,
        cursor: r.cursor,
        run: r.run_id,
        seq: Number(r.seq),
      }));
      after = Number(rows[rows.length - 1].seq);
      if (rows.length < PAGE) return;
    }
  }

  async countRecords(pipeline: string): Promise<TenantCount[]> {
    const rows = await this.knex('sluice_records as r')
      .join('sluice_streams as s', 's.id', 'r.stream_id')
      .where('s.pipeline', pipeline)
      .groupBy('r.tenant', 's.source')
      .orderBy(['r.tenant', 's.source'])
      .select('r.tenant', 's.source')
      .select(this.knex.raw(`sum(case when r.op = 'upsert' then 1 else 0 end) as records`))
      .select(this.knex.raw(`sum(case when r.op = 'delete' then 1 else 0 end) as deleted`));
    return rows.map((r) => ({ tenant: r.tenant, source: r.source, records: Number(r.records), deleted: Number(r.deleted) }));
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
    await this.knex.destroy();
  }
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
