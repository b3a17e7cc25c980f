/**
 * What a tenant's token may read: the pipelines, and its own exports, manifests, held records, counts
 * and audit entries. An admin token names the tenant.
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { listExports } from '../../export/history';
import type { Service } from '../../run/serve';
import { parseLossless } from '../../core/json-text';
import { badRequest, limitOf, notFound, say, tenantOf } from './http';

export function registerTenantRoutes(app: FastifyInstance, service: Service): void {
  app.get<{ Querystring: { pipeline?: string; tenant?: string; since?: string; action?: string; limit?: string } }>('/api/v1/audit', async (req, reply) => {
    const q = req.query;
    const limit = limitOf(q.limit, 100, reply);
    if (limit === undefined) return reply;
    if (q.since !== undefined && Number.isNaN(Date.parse(q.since))) return badRequest(reply, say(reply, 'api.since'));
    // a tenant token sees its own tenant's entries only
    const tenant = req.principal!.tenant ?? q.tenant;
    return { entries: await service.audit({ pipeline: q.pipeline, tenant, since: q.since && new Date(q.since).toISOString(), action: q.action, limit }) };
  });

  app.get('/api/v1/pipelines', async () => ({
    pipelines: [...service.served.values()].map((p) => ({
      name: p.name,
      description: p.description ?? null,
      sources: p.sources.map((s) => ({ name: s.name, kind: s.read ? 'read' : s.pull ? 'pull' : 'push', schedule: s.schedule ?? null })),
      refines: p.refine.length > 0,
      exports: p.export.map((e) => e.format),
    })),
  }));

  app.get<{ Params: { pipeline: string }; Querystring: { tenant?: string } }>('/api/v1/pipelines/:pipeline/exports', async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    const exports = [...new Set(p.export.map((e) => e.path))].flatMap((path) =>
      listExports(resolve(path), p.name, tenant).map((e) => ({ id: e.id, path, latest: e.latest, kind: e.manifest.kind, createdAt: e.manifest.createdAt, run: e.manifest.run, files: e.manifest.files.map((f) => ({ path: f.path, format: f.format, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })) })),
    );
    return { tenant, exports };
  });

  app.get<{ Params: { pipeline: string; id: string }; Querystring: { tenant?: string } }>('/api/v1/pipelines/:pipeline/exports/:id/manifest', async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    for (const path of new Set(p.export.map((e) => e.path))) {
      const found = listExports(resolve(path), p.name, tenant).find((e) => e.id === req.params.id);
      if (found) return found.manifest;
    }
    return notFound(reply, 'what.export', { id: req.params.id });
  });

  app.get<{ Params: { pipeline: string }; Querystring: { tenant?: string; source?: string; limit?: string } }>('/api/v1/pipelines/:pipeline/quarantine', async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    const limit = limitOf(req.query.limit, 100, reply);
    if (limit === undefined) return reply;
    const held = await service.storeOf(p).held(p.name, { tenant, source: req.query.source, limit });
    return { tenant, records: held.map((h) => ({ source: h.source, key: h.key, status: h.status, record: parseLossless(h.data), detail: JSON.parse(h.detail) as unknown })) };
  });

  app.get<{ Params: { pipeline: string }; Querystring: { tenant?: string } }>('/api/v1/pipelines/:pipeline/summary', async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    const store = service.storeOf(p);
    const counts = (await store.countRecords(p.name)).filter((c) => c.tenant === tenant);
    const runs = await store.runs(p.name, 100);
    const finished = runs.filter((r) => r.status === 'succeeded' || r.status === 'failed');
    const durations = finished.filter((r) => r.finishedAt).map((r) => Date.parse(r.finishedAt!) - Date.parse(r.startedAt));
    return {
      tenant,
      sources: counts.map((c) => ({ source: c.source, records: c.records, deleted: c.deleted, quarantined: c.quarantined, failed: c.failed })),
      runs: {
        considered: finished.length,
        successRate: finished.length ? finished.filter((r) => r.status === 'succeeded').length / finished.length : null,
        errorRate: finished.length ? finished.filter((r) => r.status === 'failed').length / finished.length : null,
        averageSeconds: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length / 1000 : null,
      },
    };
  });
}
