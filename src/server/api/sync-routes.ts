/**
 * A sync pipeline's conflict queue over the API (admin tokens: entries hold both systems' values):
 * list, show one, resolve one. A resolution is applied by the next sync run and audited, as from the CLI.
 */
import type { FastifyInstance } from 'fastify';
import { isSluiceError } from '../../core/errors';
import { settleConflict } from '../../run/sync-admin';
import type { Service } from '../../run/serve';
import type { ConflictStatus } from '../../stage/sync-store';
import { adminOnly, BODY_LIMIT, badRequest, limitOf, notFound, parseBody, say } from './http';
import { conflictResolution } from './schemas';

const STATUSES: readonly ConflictStatus[] = ['open', 'resolved', 'applied', 'obsolete'];

export function registerSyncRoutes(app: FastifyInstance, service: Service): void {
  const syncing = (name: string) => {
    const p = service.served.get(name);
    return p?.sync ? p : undefined;
  };

  app.get<{ Params: { pipeline: string }; Querystring: { status?: string; limit?: string } }>('/api/v1/pipelines/:pipeline/conflicts', { preHandler: adminOnly }, async (req, reply) => {
    const p = syncing(req.params.pipeline);
    if (!p) return notFound(reply, 'what.sync_pipeline', { name: req.params.pipeline });
    const limit = limitOf(req.query.limit, 100, reply);
    if (limit === undefined) return reply;
    const status = (req.query.status ?? 'open,resolved').split(',') as ConflictStatus[];
    if (!status.every((s) => STATUSES.includes(s))) return badRequest(reply, say(reply, 'api.conflict_status', { statuses: STATUSES.join(', ') }));
    return { conflicts: await service.storeOf(p).sync(p.name).conflicts({ status, limit }) };
  });

  app.get<{ Params: { pipeline: string; id: string } }>('/api/v1/pipelines/:pipeline/conflicts/:id', { preHandler: adminOnly }, async (req, reply) => {
    const p = syncing(req.params.pipeline);
    const [c] = p && /^\d+$/.test(req.params.id) ? await service.storeOf(p).sync(p.name).conflicts({ id: Number(req.params.id) }) : [];
    return c ?? notFound(reply, 'what.conflict', { id: req.params.id, pipeline: req.params.pipeline });
  });

  app.post<{ Params: { pipeline: string; id: string } }>('/api/v1/pipelines/:pipeline/conflicts/:id/resolve', { preHandler: adminOnly, bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const p = syncing(req.params.pipeline);
    if (!p || !/^\d+$/.test(req.params.id)) return notFound(reply, 'what.conflict', { id: req.params.id, pipeline: req.params.pipeline });
    const body = parseBody(req.body, conflictResolution, reply);
    if (!body) return reply;
    try {
      return await settleConflict(service.storeOf(p), p, Number(req.params.id), body, req.principal!.id);
    } catch (err) {
      // not open any more, or the resolution does not settle it: the request conflicts with the queue's state
      if (isSluiceError(err) && err.code === 'SLUICE_SYNC_CONFLICT') return reply.code(409).send({ error: 'conflict', reason: err.localized(reply.request.lang ?? 'en-US') });
      throw err;
    }
  });
}
