/**
 * The REST API under `/api/v1`: every request carries a bearer token — an admin token
 * (`SLUICE_ADMIN_TOKEN`, or one made with `--admin`) or a token for one tenant — and every answer is
 * filtered to what the token may see. Another tenant's things answer 404, as if they did not exist.
 */
import { timingSafeEqual } from 'node:crypto';
import { resolve } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SecretBox } from '../core/secret-box';
import { VERSION } from '../core/version';
import { listExports } from '../export/history';
import { authenticate, type Principal } from '../run/api-tokens';
import { CONNECTION_KINDS, saveConnection, shown, testConnection } from '../run/connections';
import type { Pipeline } from '../run/pipeline';
import type { Service } from '../run/serve';
import type { StagingStore } from '../stage/store';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    /** `GET /api/v1/runs/{id}`, ... : the API routes registered */
    apiRoutes: string[];
  }
}

type Reply = FastifyReply;
const notFound = (reply: Reply, what: string) => reply.code(404).send({ error: 'not_found', reason: `no ${what}` });
const badRequest = (reply: Reply, reason: string) => reply.code(400).send({ error: 'bad_request', reason });

/** API bodies are small settings, never data. */
const BODY_LIMIT = 64 * 1024;

const connectionRequest = z.strictObject({
  name: z.string().min(1).max(100).describe('Unique per tenant.'),
  kind: z.enum(CONNECTION_KINDS),
  url: z.string().min(1).max(4096).describe('With its credentials: stored sealed, never shown again.'),
  tenant: z.string().min(1).optional().describe('Admin tokens only: whose connection it is.'),
});
const connectionUpdate = connectionRequest.omit({ tenant: true }).partial();

const runRequest = z.strictObject({ full: z.boolean().optional().describe('Write full snapshots instead of the changes since the previous exports.') });

/** What each route does and who may call it: the OpenAPI document is built from this. */
const ROUTES: { method: 'get' | 'post' | 'patch' | 'delete'; path: string; summary: string; ok?: number; admin?: boolean; query?: string[]; body?: z.ZodType }[] = [
  { method: 'get', path: '/api/v1/pipelines', summary: 'The served pipelines, their sources and schedules.' },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/exports', summary: "A tenant's exports, with files, rows and checksums.", query: ['tenant'] },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/exports/{id}/manifest', summary: "One of a tenant's exports: its manifest.", query: ['tenant'] },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/quarantine', summary: "A tenant's held records with their reasons.", query: ['tenant', 'source', 'limit'] },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/summary', summary: 'Records per source for a tenant, and the success rate, error rate and average duration of runs.', query: ['tenant'] },
  { method: 'get', path: '/api/v1/audit', summary: 'The audit log, newest first (a tenant token: its own entries).', query: ['pipeline', 'tenant', 'since', 'action', 'limit'] },
  { method: 'get', path: '/api/v1/alerts', summary: 'Alert states.', admin: true },
  { method: 'get', path: '/api/v1/sources', summary: "A tenant's data-source connections (credentials masked).", query: ['tenant'] },
  { method: 'post', path: '/api/v1/sources', summary: 'Make a connection: its URL is sealed with AES-256-GCM and never shown again.', ok: 201, body: connectionRequest },
  { method: 'get', path: '/api/v1/sources/{id}', summary: 'One connection (credentials masked).' },
  { method: 'patch', path: '/api/v1/sources/{id}', summary: 'Change a connection.', body: connectionUpdate },
  { method: 'delete', path: '/api/v1/sources/{id}', summary: 'Remove a connection.', ok: 204 },
  { method: 'post', path: '/api/v1/sources/{id}/test', summary: 'Connect, and say whether it worked (the reason never holds the password).' },
  { method: 'post', path: '/api/v1/pipelines/{pipeline}/runs', summary: 'Start a run now; 202 with its id.', ok: 202, admin: true, body: runRequest },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/runs', summary: 'Recent runs with their counts.', admin: true, query: ['limit'] },
  { method: 'get', path: '/api/v1/runs/{id}', summary: 'One run.', admin: true },
  { method: 'post', path: '/api/v1/runs/{id}/cancel', summary: 'Cancel a run started by this server.', ok: 202, admin: true },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/checkpoints', summary: "Each source's checkpoint and high water.", admin: true },
  { method: 'delete', path: '/api/v1/pipelines/{pipeline}/sources/{source}/checkpoint', summary: "Forget a source's checkpoint (audited).", admin: true },
];

/** The OpenAPI 3.1 description of the API. */
export function openApiDocument(version: string): Record<string, unknown> {
  const error = { description: 'A refusal', content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' }, reason: { type: 'string' } }, required: ['error', 'reason'] } } } };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = (r.query ?? []).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } }));
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      ...(r.admin ? { description: 'Needs an admin token.' } : {}),
      parameters: [...params, ...query],
      ...(r.body ? { requestBody: { required: false, content: { 'application/json': { schema: z.toJSONSchema(r.body) } } } } : {}),
      responses: {
        [String(r.ok ?? 200)]: { description: 'OK', ...(r.ok === 204 ? {} : { content: { 'application/json': {} } }) },
        '400': error,
        '401': error,
        ...(r.admin ? { '403': error } : {}),
        '404': error,
        '429': error,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice', version },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

export function registerApi(app: FastifyInstance, service: Service): void {
  const limiter = new TokenBuckets(service.apiRate.perSecond, service.apiRate.burst);
  app.decorateRequest('principal', undefined);
  // every API route as registered (method and OpenAPI-style path), so a test can hold the document to them
  const registered: string[] = [];
  app.decorate('apiRoutes', registered);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method !== 'HEAD' && r.url.startsWith('/api/v1/') && r.url !== '/api/v1/openapi.json') registered.push(`${method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    }
  });
  app.get('/api/v1/openapi.json', async () => openApiDocument(VERSION));
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') || req.url === '/api/v1/openapi.json') return;
    const admin = service.adminToken;
    const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given && admin && sameText(given, admin)) req.principal = { id: 'admin', tenant: null };
    else if (given) req.principal = await authenticate(service.allStores, given);
    if (!req.principal) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', reason: 'a valid bearer token is needed' });
    const wait = limiter.take(req.principal.id);
    if (wait > 0) {
      return reply
        .code(429)
        .header('retry-after', String(Math.ceil(wait / 1000)))
        .send({ error: 'too_many_requests', reason: `more than ${service.apiRate.perSecond} requests a second with this token: try again in ${Math.ceil(wait / 1000)} s` });
    }
  });

  const adminOnly = async (req: FastifyRequest, reply: Reply) => {
    if (req.principal?.tenant !== null) return reply.code(403).send({ error: 'forbidden', reason: 'this needs an admin token' });
  };
  /** The tenant a request is about: the token's own, or (admin) the `tenant` query parameter. */
  const tenantOf = (req: FastifyRequest<{ Querystring: { tenant?: string } }>, reply: Reply): string | undefined => {
    const own = req.principal!.tenant;
    if (own !== null) return own;
    if (!req.query.tenant) return void badRequest(reply, 'tenant: an admin token names the tenant (?tenant=…)');
    return req.query.tenant;
  };
  const pipelineOf = (name: string): Pipeline | undefined => service.served.get(name);

  app.get('/api/v1/alerts', { preHandler: adminOnly }, async () => ({ alerts: (await service.alerting?.list()) ?? [] }));

  // data-source connections, in the first served pipeline's staging store
  const vault = async (reply: Reply): Promise<{ store: StagingStore; box: SecretBox } | undefined> => {
    try {
      return { store: service.primaryStore, box: SecretBox.fromEnv((service.env).SLUICE_SECRET_KEY) };
    } catch (err) {
      return void reply.code(503).send({ error: 'unavailable', reason: (err as Error).message });
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
    if (!tenant) return badRequest(reply, 'tenant: an admin token names the tenant the connection is for');
    const v = await vault(reply);
    if (!v) return reply;
    if ((await v.store.connections(tenant)).some((c) => c.name === body.name)) return reply.code(409).send({ error: 'conflict', reason: `tenant ${tenant} already has a connection named ${body.name}` });
    const made = await saveConnection(v.store, v.box, { tenant, name: body.name, kind: body.kind, url: body.url }, req.principal!.id);
    return reply.code(201).header('location', `/api/v1/sources/${made.id}`).send(shown(made));
  });

  app.get<{ Params: { id: string } }>('/api/v1/sources/:id', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    return c ? shown(c) : notFound(reply, `source ${req.params.id}`);
  });

  app.patch<{ Params: { id: string } }>('/api/v1/sources/:id', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const body = parseBody(req.body, connectionUpdate, reply);
    if (!body) return reply;
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    if (!c) return notFound(reply, `source ${req.params.id}`);
    const url = body.url ?? v.box.open(c.sealedUrl);
    return shown(await saveConnection(v.store, v.box, { id: c.id, tenant: c.tenant, name: body.name ?? c.name, kind: body.kind ?? c.kind, url }, req.principal!.id));
  });

  app.delete<{ Params: { id: string } }>('/api/v1/sources/:id', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    if (!c || !(await v.store.deleteConnection(c.id, scope(req)))) return notFound(reply, `source ${req.params.id}`);
    await v.store.appendAudit({ actor: req.principal!.id, action: 'credentials.deleted', tenant: c.tenant, detail: { id: c.id, name: c.name } });
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>('/api/v1/sources/:id/test', async (req, reply) => {
    const v = await vault(reply);
    if (!v) return reply;
    const c = await v.store.connection(req.params.id, scope(req));
    return c ? testConnection(c, v.box) : notFound(reply, `source ${req.params.id}`);
  });

  app.post<{ Params: { pipeline: string } }>('/api/v1/pipelines/:pipeline/runs', { preHandler: adminOnly, bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const body = parseBody(req.body, runRequest, reply);
    if (!body) return reply;
    const started = service.startRun(req.params.pipeline, { full: body.full, actor: req.principal!.id });
    if (!started) return notFound(reply, `pipeline ${req.params.pipeline}`);
    return reply.code(202).header('location', `/api/v1/runs/${started.run}`).send({ run: started.run, status: started.queued ? 'queued' : 'running' });
  });

  app.get<{ Params: { pipeline: string }; Querystring: { limit?: string } }>('/api/v1/pipelines/:pipeline/runs', { preHandler: adminOnly }, async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
    const limit = req.query.limit === undefined ? 20 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest(reply, 'limit: expected a whole number from 1 to 1000');
    return { runs: await service.storeOf(p).runs(p.name, limit) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/runs/:id', { preHandler: adminOnly }, async (req, reply) => {
    for (const store of service.allStores) {
      const run = await store.run(req.params.id);
      if (run && service.served.has(run.pipeline)) return run;
    }
    return notFound(reply, `run ${req.params.id}`);
  });

  app.post<{ Params: { id: string } }>('/api/v1/runs/:id/cancel', { preHandler: adminOnly }, async (req, reply) => {
    if (service.cancelRun(req.params.id)) return reply.code(202).send({ run: req.params.id, status: 'cancelling' });
    for (const store of service.allStores) {
      const run = await store.run(req.params.id);
      if (run && service.served.has(run.pipeline)) return reply.code(409).send({ error: 'conflict', reason: `run ${run.id} is ${run.status}, not running here` });
    }
    return notFound(reply, `run ${req.params.id}`);
  });

  app.get<{ Params: { pipeline: string } }>('/api/v1/pipelines/:pipeline/checkpoints', { preHandler: adminOnly }, async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
    const streams = await service.storeOf(p).streams(p.name);
    return { checkpoints: streams.map((s) => ({ source: s.source, checkpoint: s.checkpoint, highWater: s.highWater })) };
  });

  app.delete<{ Params: { pipeline: string; source: string } }>('/api/v1/pipelines/:pipeline/sources/:source/checkpoint', { preHandler: adminOnly }, async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p || !p.sources.some((s) => s.name === req.params.source)) return notFound(reply, `source ${req.params.source} in pipeline ${req.params.pipeline}`);
    const store = service.storeOf(p);
    // under the pipeline's run lock: never beneath a run that is about to commit the checkpoint
    const lock = await store.lock(p.name).catch(() => undefined);
    if (!lock) return reply.code(409).header('retry-after', '10').send({ error: 'conflict', reason: `a run of ${p.name} is under way` });
    try {
      const previous = await store.resetCheckpoint(p.name, req.params.source);
      await store.appendAudit({ actor: req.principal!.id, action: 'checkpoint.reset', pipeline: p.name, detail: { source: req.params.source, previous: previous ?? null } });
      return { source: req.params.source, previous: previous ?? null };
    } finally {
      await lock.release();
    }
  });

  app.get<{ Querystring: { pipeline?: string; tenant?: string; since?: string; action?: string; limit?: string } }>('/api/v1/audit', async (req, reply) => {
    const q = req.query;
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest(reply, 'limit: expected a whole number from 1 to 1000');
    if (q.since !== undefined && Number.isNaN(Date.parse(q.since))) return badRequest(reply, 'since: expected an ISO-8601 time');
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
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    const exports = [...new Set(p.export.map((e) => e.path))].flatMap((path) =>
      listExports(resolve(path), p.name, tenant).map((e) => ({ id: e.id, path, latest: e.latest, kind: e.manifest.kind, createdAt: e.manifest.createdAt, run: e.manifest.run, files: e.manifest.files.map((f) => ({ path: f.path, format: f.format, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })) })),
    );
    return { tenant, exports };
  });

  app.get<{ Params: { pipeline: string; id: string }; Querystring: { tenant?: string } }>('/api/v1/pipelines/:pipeline/exports/:id/manifest', async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    for (const path of new Set(p.export.map((e) => e.path))) {
      const found = listExports(resolve(path), p.name, tenant).find((e) => e.id === req.params.id);
      if (found) return found.manifest;
    }
    return notFound(reply, `export ${req.params.id}`);
  });

  app.get<{ Params: { pipeline: string }; Querystring: { tenant?: string; source?: string; limit?: string } }>('/api/v1/pipelines/:pipeline/quarantine', async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
    const tenant = tenantOf(req, reply);
    if (tenant === undefined) return reply;
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest(reply, 'limit: expected a whole number from 1 to 1000');
    const held = await service.storeOf(p).held(p.name, { tenant, source: req.query.source, limit });
    return { tenant, records: held.map((h) => ({ source: h.source, key: h.key, status: h.status, record: JSON.parse(h.data) as unknown, detail: JSON.parse(h.detail) as unknown })) };
  });

  app.get<{ Params: { pipeline: string }; Querystring: { tenant?: string } }>('/api/v1/pipelines/:pipeline/summary', async (req, reply) => {
    const p = pipelineOf(req.params.pipeline);
    if (!p) return notFound(reply, `pipeline ${req.params.pipeline}`);
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

/** A JSON body checked against its schema; on a problem, a 400 naming the field and what was expected. */
function parseBody<S extends z.ZodType>(raw: unknown, schema: S, reply: Reply): z.output<S> | undefined {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : '';
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      return void badRequest(reply, `the body is not JSON: ${(err as Error).message}`);
    }
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  return void badRequest(reply, `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
}

/**
 * A request rate limit per token: each token's bucket holds up to `burst` requests and refills at
 * `perSecond`; an empty bucket says how long until the next request may go (ms), 0 when it may now.
 */
class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  take(id: string, now = Date.now()): number {
    const b = this.buckets.get(id) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    this.buckets.set(id, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return ((1 - b.tokens) / this.perSecond) * 1000;
  }
}

/** Compares secrets in constant time (for equal lengths; a length mismatch answers at once). */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

