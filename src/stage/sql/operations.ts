/** What operating Sluice keeps (migrations 010–012): alert states, the audit log, API tokens, connections; for both stores. */
import type { Knex } from 'knex';
import type { AlertStateRow, ApiTokenRow, AuditEntry, AuditQuery, AuditRow, ConnectionRow } from '../store';

export async function alertStates(knex: Knex, pipeline?: string): Promise<AlertStateRow[]> {
  const q = knex('sluice_alert_states').orderBy(['pipeline', 'alert', 'instance']);
  if (pipeline !== undefined) q.where({ pipeline });
  const rows = await q.select('*');
  return rows.map((r: Record<string, unknown>) => ({
    pipeline: String(r.pipeline),
    alert: String(r.alert),
    instance: String(r.instance),
    state: r.state as AlertStateRow['state'],
    sinceMs: num(r.since_ms),
    firedMs: num(r.fired_ms),
    notifiedMs: num(r.notified_ms),
    value: num(r.value),
    version: Number(r.version),
  }));
}

/** Saves `next` if the stored state is still at `next.version - 1` (or absent, for version 1). */
export async function saveAlertState(knex: Knex, next: AlertStateRow): Promise<boolean> {
  const row = {
    state: next.state,
    since_ms: next.sinceMs,
    fired_ms: next.firedMs,
    notified_ms: next.notifiedMs,
    value: next.value,
    version: next.version,
  };
  const key = { pipeline: next.pipeline, alert: next.alert, instance: next.instance };
  if (next.version === 1) {
    const inserted = await knex('sluice_alert_states').insert({ ...key, ...row }).onConflict(['pipeline', 'alert', 'instance']).ignore().returning('version');
    return Array.isArray(inserted) && inserted.length > 0;
  }
  return (await knex('sluice_alert_states').where({ ...key, version: next.version - 1 }).update(row)) === 1;
}

export async function appendAudit(knex: Knex, entries: AuditEntry | readonly AuditEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries as AuditEntry];
  if (list.length === 0) return;
  const at = new Date().toISOString();
  const rows = list.map((e) => ({ at, actor: e.actor, action: e.action, pipeline: e.pipeline ?? null, tenant: e.tenant ?? null, detail: JSON.stringify(e.detail ?? {}) }));
  // few statements (500 rows each, inside every bound-parameter limit), in order: ids grow as the entries are given
  for (let i = 0; i < rows.length; i += 500) await knex('sluice_audit').insert(rows.slice(i, i + 500));
}

export async function audit(knex: Knex, q: AuditQuery): Promise<AuditRow[]> {
  const query = knex('sluice_audit').orderBy('id', 'desc').limit(q.limit);
  if (q.pipeline !== undefined) query.where({ pipeline: q.pipeline });
  if (q.tenant !== undefined) query.where({ tenant: q.tenant });
  if (q.since !== undefined) query.where('at', '>=', q.since);
  if (q.action !== undefined) query.where('action', 'like', `${q.action}%`);
  const rows = await query.select('*');
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    at: r.at instanceof Date ? r.at.toISOString() : String(r.at),
    actor: String(r.actor),
    action: String(r.action),
    pipeline: (r.pipeline as string | null) ?? null,
    tenant: (r.tenant as string | null) ?? null,
    detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
  }));
}

/** Removes audit entries older than `before` (ISO-8601): the log's retention. */
export async function pruneAudit(knex: Knex, before: string): Promise<number> {
  return knex('sluice_audit').where('at', '<', before).delete();
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export async function addApiToken(knex: Knex, t: Omit<ApiTokenRow, 'createdAt' | 'revokedAt'> & { hash: string }): Promise<void> {
  await knex('sluice_api_tokens').insert({ id: t.id, name: t.name, tenant: t.tenant, hash: t.hash, created_at: new Date().toISOString(), expires_at: t.expiresAt });
}

export async function apiToken(knex: Knex, id: string): Promise<(ApiTokenRow & { hash: string }) | undefined> {
  const r = await knex('sluice_api_tokens').where({ id }).first();
  return r ? { ...tokenRow(r), hash: String(r.hash) } : undefined;
}

export async function apiTokens(knex: Knex): Promise<ApiTokenRow[]> {
  return (await knex('sluice_api_tokens').orderBy('created_at').select('*')).map(tokenRow);
}

export async function revokeApiToken(knex: Knex, id: string): Promise<boolean> {
  return (await knex('sluice_api_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: new Date().toISOString() })) === 1;
}

function tokenRow(r: Record<string, unknown>): ApiTokenRow {
  const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
  return { id: String(r.id), name: String(r.name), tenant: (r.tenant as string | null) ?? null, createdAt: iso(r.created_at)!, revokedAt: iso(r.revoked_at), expiresAt: iso(r.expires_at) };
}

export async function connections(knex: Knex, tenant: string | null): Promise<ConnectionRow[]> {
  const q = knex('sluice_connections').orderBy(['tenant', 'name']);
  if (tenant !== null) q.where({ tenant });
  return (await q.select('*')).map(connectionRow);
}

/** A tenant's connection (any tenant's with `tenant` null); another tenant's is as absent as a missing one. */
export async function connection(knex: Knex, id: string, tenant: string | null): Promise<ConnectionRow | undefined> {
  const q = knex('sluice_connections').where({ id });
  if (tenant !== null) q.where({ tenant });
  const r = await q.first();
  return r ? connectionRow(r) : undefined;
}

export async function saveConnection(knex: Knex, c: Omit<ConnectionRow, 'createdAt' | 'updatedAt'>): Promise<void> {
  const now = new Date().toISOString();
  const row = { tenant: c.tenant, name: c.name, kind: c.kind, sealed_url: c.sealedUrl, shown_url: c.shownUrl, updated_at: now };
  const updated = await knex('sluice_connections').where({ id: c.id }).update(row);
  if (updated === 0) await knex('sluice_connections').insert({ id: c.id, ...row, created_at: now });
}

export async function deleteConnection(knex: Knex, id: string, tenant: string | null): Promise<boolean> {
  const q = knex('sluice_connections').where({ id });
  if (tenant !== null) q.where({ tenant });
  return (await q.delete()) === 1;
}

function connectionRow(r: Record<string, unknown>): ConnectionRow {
  return {
    id: String(r.id),
    tenant: String(r.tenant),
    name: String(r.name),
    kind: String(r.kind) as ConnectionRow['kind'],
    sealedUrl: String(r.sealed_url),
    shownUrl: String(r.shown_url),
    createdAt: new Date(r.created_at as string).toISOString(),
    updatedAt: new Date(r.updated_at as string).toISOString(),
  };
}
