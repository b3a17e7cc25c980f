/** The OpenAPI 3.1 description of `/api/v1`, from one table of the routes (a test holds it to the registered ones). */
import { z } from 'zod';
import { conflictResolution, connectionRequest, connectionUpdate, runRequest } from './schemas';

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
  { method: 'post', path: '/api/v1/pipelines/{pipeline}/runs', summary: 'Start a run now (admin, or the tenant whose pipeline it is); 202 with its id.', ok: 202, body: runRequest },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/runs', summary: 'Recent runs with their counts.', query: ['limit'] },
  { method: 'get', path: '/api/v1/runs/{id}', summary: 'One run.' },
  { method: 'post', path: '/api/v1/runs/{id}/cancel', summary: 'Cancel a run started by this server.', ok: 202 },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/checkpoints', summary: "Each source's checkpoint and high water.", admin: true },
  { method: 'delete', path: '/api/v1/pipelines/{pipeline}/sources/{source}/checkpoint', summary: "Forget a source's checkpoint (audited).", admin: true },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/conflicts', summary: 'The conflict queue of a sync pipeline (open and resolved entries, or `status=`).', admin: true, query: ['status', 'limit'] },
  { method: 'get', path: '/api/v1/pipelines/{pipeline}/conflicts/{id}', summary: 'One conflict: the base, a and b values of its fields.', admin: true },
  { method: 'post', path: '/api/v1/pipelines/{pipeline}/conflicts/{id}/resolve', summary: 'Settle a conflict; the next sync run applies it and audits it.', admin: true, body: conflictResolution },
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
