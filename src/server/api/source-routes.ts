/**
 * Data-source connections of a tenant, kept in the first served pipeline's staging store with their URLs
 * sealed (run/connections); answers show them masked.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SecretBox } from '../../core/secret-box';
import { saveConnection, shown, testConnection } from '../../run/connections';
import type { Service } from '../../run/serve';
import type { StagingStore } from '../../stage/store';
import { badRequest, BODY_LIMIT, notFound, parseBody, say, type Reply } from './http';
import { connectionRequest, connectionUpdate } from './schemas';

export function registerSourceRoutes(app: FastifyInstance, service: Service): void {
  const vault = async (reply: Reply): Promise<{ store: StagingStore; box: SecretBox } | undefined> => {
    try {
      return { store: service.primaryStore, box: SecretBox.fromEnv((service.env).SLUICE_SECRET_KEY) };
    } catch (err) {
      return void reply.code(503).send({ error: 'unavailable', reason: say(reply, 'api.secrets_unavailable', { reason: (err as Error).message }) });
    }
  };
  /** A connection's tenant: a tenant token's own; an admin names it in the body or query. */
  const scope = (req: FastifyRequest) => req.principal!.tenant;

  app.get<{ Querystring: { tenant?: string } }>('/api/v1/sources', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const tenant = scope(req) ?? req.query.tenant ?? null;
    return { sources: (await v.store.connections(tenant)).map(shown) };
  });

  app.post('/api/v1/sources', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const body = parseBody(req.body, connectionRequest, reply);
    if (!body) return reply;
    const tenant = scope(req) ?? body.tenant;
    if (!tenant) return badRequest(reply, say(reply, 'api.tenant_needed.body'));
    const v = await vault(reply);
    if (!v) return reply;
    if ((await v.store.connections(tenant)).some((c) => c.name === body.name)) return reply.code(409).send({ error: 'conflict', reason: say(reply, 'api.connection_exists', { tenant, name: body.name }) });
    const made = await saveConnection(v.store, v.box, { tenant, name: body.name, kind: body.kind, url: body.url }, req.principal!.id);
    return reply.code(201).header('location', `/api/v1/sources/${made.id}`).send(shown(made));
  });

  app.get<{ Params: { id: string } }>('/api/v1/sources/:id', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    return c ? shown(c) : notFound(reply, 'what.source', { id: req.params.id });
  });

  app.patch<{ Params: { id: string } }>('/api/v1/sources/:id', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const body = parseBody(req.body, connectionUpdate, reply);
    if (!body) return reply;
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    if (!c) return notFound(reply, 'what.source', { id: req.params.id });
    const url = body.url ?? v.box.open(c.sealedUrl);
    return shown(await saveConnection(v.store, v.box, { id: c.id, tenant: c.tenant, name: body.name ?? c.name, kind: body.kind ?? c.kind, url }, req.principal!.id));
  });

  app.delete<{ Params: { id: string } }>('/api/v1/sources/:id', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    if (!c || !(await v.store.deleteConnection(c.id, scope(req)))) return notFound(reply, 'what.source', { id: req.params.id });
    await v.store.appendAudit({ actor: req.principal!.id, action: 'credentials.deleted', tenant: c.tenant, detail: { id: c.id, name: c.name } });
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>('/api/v1/sources/:id/test', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    return c ? testConnection(c, v.box) : notFound(reply, 'what.source', { id: req.params.id });
  });
}
