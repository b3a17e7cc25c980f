/**
 * The reads of staged records both stores share: a tenant's records, and the keys that left it, a page
 * at a time in a change window; the counts per tenant and source; the records refine steps hold back.
 */
import type { Knex } from 'knex';
import type { HeldRecord, RecordQuery, TenantCount } from '../store';

/** Records a page of a tenant's change window holds. */
export const PAGE = 5000;

/** What a refined pipeline exports: refined records, and as they were staged, those a step failed on or a person released. */
export const EXPORTED_STATUSES = ['refined', 'failed', 'released'];

export interface PageRow {
  key: string;
  data?: string | null;
  hash?: string;
  cursor?: string | null;
  run_id: string;
  seq: number | string;
  refine_status?: string | null;
  refine_version?: string | null;
}

/**
 * A page of a tenant's records in the change window `(after, upTo]`, in change order: of a refined
 * pipeline, those it exports (refined data where there is some); with `deliveredSince`, only records a
 * delivery since then staged (a replay).
 */
export function upsertPage(db: Knex, stream: number, tenant: string, after: number, upTo: number, q: RecordQuery): Promise<PageRow[]> {
  const { deliveredSince, refined, notRefinedBy } = q;
  const page = db('sluice_records')
    .where({ stream_id: stream, tenant, op: 'upsert' })
    .andWhere('seq', '>', after)
    .andWhere('seq', '<=', upTo);
  if (refined) page.whereIn('refine_status', EXPORTED_STATUSES);
  if (notRefinedBy !== undefined) page.where((w) => w.whereNull('refine_version').orWhereNot('refine_version', notRefinedBy));
  if (deliveredSince !== undefined) {
    page.whereIn('key', db('sluice_deliveries').where({ stream_id: stream }).andWhere('received_at', '>=', deliveredSince).select('key'));
  }
  const data = refined ? db.raw("CASE WHEN refine_status = 'refined' THEN refined ELSE data END AS data") : 'data';
  return page
    .orderBy('seq')
    .limit(PAGE)
    .select('key', data, 'hash', 'cursor', 'run_id', 'seq', ...(refined ? ['refine_status', 'refine_version'] : []));
}

/**
 * Keys that left a tenant: records the source deleted, and tombstones of records that moved to another
 * tenant (unless they have moved back since).
 */
export function deletePage(db: Knex, stream: number, tenant: string, after: number, upTo: number): Promise<PageRow[]> {
  const deleted = db('sluice_records')
    .where({ stream_id: stream, tenant, op: 'delete' })
    .andWhere('seq', '>', after)
    .andWhere('seq', '<=', upTo)
    .select('key', 'run_id', 'seq');
  const moved = db('sluice_tombstones as t')
    .where({ 't.stream_id': stream, 't.tenant': tenant })
    .andWhere('t.seq', '>', after)
    .andWhere('t.seq', '<=', upTo)
    .whereNotExists((q) => q.from('sluice_records as r').whereRaw('r.stream_id = t.stream_id AND r.key = t.key AND r.tenant = t.tenant'))
    .select('t.key', 't.run_id', 't.seq');
  return db.from(deleted.unionAll(moved).as('d')).orderBy('seq').limit(PAGE).select('*');
}

/** Per tenant and source: records, deleted keys (moves to another tenant included), quarantined and failed. */
export async function countRecords(knex: Knex, pipeline: string): Promise<TenantCount[]> {
  const rows = await knex('sluice_records as r')
    .join('sluice_streams as s', 's.id', 'r.stream_id')
    .where('s.pipeline', pipeline)
    .groupBy('r.tenant', 's.source')
    .orderBy(['r.tenant', 's.source'])
    .select('r.tenant', 's.source')
    .select(knex.raw(`sum(case when r.op = 'upsert' then 1 else 0 end) as records`))
    .select(knex.raw(`sum(case when r.op = 'delete' then 1 else 0 end) as deleted`))
    .select(knex.raw(`sum(case when r.refine_status = 'quarantined' then 1 else 0 end) as quarantined`))
    .select(knex.raw(`sum(case when r.refine_status = 'failed' then 1 else 0 end) as failed`));
  const moved = await knex('sluice_tombstones as t')
    .join('sluice_streams as s', 's.id', 't.stream_id')
    .where('s.pipeline', pipeline)
    .groupBy('t.tenant', 's.source')
    .select('t.tenant', 's.source', knex.raw('count(*) as n'));
  const counts = new Map<string, TenantCount>();
  const entry = (tenant: string, source: string) => {
    const k = JSON.stringify([tenant, source]);
    if (!counts.has(k)) counts.set(k, { tenant, source, records: 0, deleted: 0, quarantined: 0, failed: 0 });
    return counts.get(k)!;
  };
  for (const r of rows) {
    Object.assign(entry(r.tenant, r.source), { records: Number(r.records), deleted: Number(r.deleted), quarantined: Number(r.quarantined), failed: Number(r.failed) });
  }
  for (const m of moved as { tenant: string; source: string; n: number | string }[]) entry(m.tenant, m.source).deleted += Number(m.n);
  return [...counts.values()].sort((a, b) => (a.tenant === b.tenant ? (a.source < b.source ? -1 : 1) : a.tenant < b.tenant ? -1 : 1));
}

/** Records a refine step holds back (quarantined or failed), oldest change first. */
export async function heldRecords(knex: Knex, pipeline: string, q: { source?: string; tenant?: string; key?: string; limit: number }): Promise<HeldRecord[]> {
  const query = knex('sluice_records as r')
    .join('sluice_streams as s', 's.id', 'r.stream_id')
    .where('s.pipeline', pipeline)
    .whereIn('r.refine_status', ['quarantined', 'failed'])
    .orderBy('r.seq')
    .limit(q.limit)
    .select('s.source', 'r.tenant', 'r.key', 'r.seq', 'r.refine_status', 'r.data', 'r.refine_detail');
  if (q.source !== undefined) query.where('s.source', q.source);
  if (q.tenant !== undefined) query.where('r.tenant', q.tenant);
  if (q.key !== undefined) query.where('r.key', q.key);
  const rows = await query;
  return rows.map((r) => ({ source: r.source, tenant: r.tenant, key: r.key, seq: Number(r.seq), status: r.refine_status, data: r.data, detail: r.refine_detail }));
}
