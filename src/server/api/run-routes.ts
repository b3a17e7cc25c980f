/**
 * Runs and their state: alert states and checkpoints take an admin token; runs (start, list, get, cancel)
 * an admin token or the token of the tenant whose pipeline it is (one whose records are all that tenant's).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ownerOf, type Pipeline } from '../../run/pipeline';
import type { Service } from '../../run/serve';
import { adminOnly, BODY_LIMIT, limitOf, notFound, parseBody, say } from './http';
import { runRequest } from './schemas';

export function registerRunRoutes(app: FastifyInstance, service: Service): void {
  /** Whether the token may run this pipeline: admin, or the pipeline is wholly the token's tenant's. */
  const mayRun = (req: FastifyRequest, p: Pipeline) => req.principal!.tenant === null || ownerOf(p) === req.principal!.tenant;
  /** The pipeline by name, when the token may run it; another tenant's is as absent as a missing one. */
  const runnable = (req: FastifyRequest, name: string) => {
    const p = service.served.get(name);
    return p && mayRun(req, p) ? p : undefined;
  };

  app.get('/api/v1/alerts', { preHandler: adminOnly }, async () => ({ alerts: (await service.alerting?.list()) ?? [] }));

  app.post<{ Params: { pipeline: string } }>('/api/v1/pipelines/:pipeline/runs', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    if (!runnable(req, req.params.pipeline)) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const body = parseBody(req.body, runRequest, reply);
    if (!body) return reply;
    const started = service.startRun(req.params.pipeline, { full: body.full, actor: req.principal!.id });
    if (!started) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    return reply.code(202).header('location', `/api/v1/runs/${started.run}`).send({ run: started.run, status: started.queued ? 'queued' : 'running' });
  });

  app.get<{ Params: { pipeline: string }; Querystring: { limit?: string } }>('/api/v1/pipelines/:pipeline/runs', async (req, reply) => {
    const p = runnable(req, req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const limit = limitOf(req.query.limit, 20, reply);
    if (limit === undefined) return reply;
    return { runs: await service.storeOf(p).runs(p.name, limit) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/runs/:id', async (req, reply) => {
    for (const store of service.allStores) {
      const run = await store.run(req.params.id);
      if (run && runnable(req, run.pipeline)) return run;
    }
    return notFound(reply, 'what.run', { id: req.params.id });
  });

  app.post<{ Params: { id: string } }>('/api/v1/runs/:id/cancel', async (req, reply) => {
    const here = service.apiRunPipeline(req.params.id); // started here and not over (queued, or running)
    if (here !== undefined && runnable(req, here)) {
      service.cancelRun(req.params.id);
      return reply.code(202).send({ run: req.params.id, status: 'cancelling' });
    }
    for (const store of service.allStores) {
      const run = await store.run(req.params.id);
      if (run && runnable(req, run.pipeline)) return reply.code(409).send({ error: 'conflict', reason: say(reply, 'api.run_not_running', { run: run.id, status: run.status }) });
    }
    return notFound(reply, 'what.run', { id: req.params.id });
  });

  app.get<{ Params: { pipeline: string } }>('/api/v1/pipelines/:pipeline/checkpoints', { preHandler: adminOnly }, async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p) return notFound(reply, 'what.pipeline', { name: req.params.pipeline });
    const streams = await service.storeOf(p).streams(p.name);
    return { checkpoints: streams.map((s) => ({ source: s.source, checkpoint: s.checkpoint, highWater: s.highWater })) };
  });

  app.delete<{ Params: { pipeline: string; source: string } }>('/api/v1/pipelines/:pipeline/sources/:source/checkpoint', { preHandler: adminOnly }, async (req, reply) => {
    const p = service.served.get(req.params.pipeline);
    if (!p || !p.sources.some((s) => s.name === req.params.source)) return notFound(reply, 'what.pipeline_source', { source: req.params.source, pipeline: req.params.pipeline });
    const store = service.storeOf(p);
    // under the pipeline's run lock: never beneath a run that is about to commit the checkpoint
    const lock = await store.lock(p.name).catch(() => undefined);
    if (!lock) return reply.code(409).header('retry-after', '10').send({ error: 'conflict', reason: say(reply, 'api.run_under_way', { pipeline: p.name }) });
    try {
      const previous = await store.resetCheckpoint(p.name, req.params.source);
      await store.appendAudit({ actor: req.principal!.id, action: 'checkpoint.reset', pipeline: p.name, detail: { source: req.params.source, previous: previous ?? null } });
      return { source: req.params.source, previous: previous ?? null };
    } finally {
      await lock.release();
    }
  });
}
