/**
 * The HTTP face of `sluice serve` (fastify): `POST /hooks/:pipeline/:source` for webhook deliveries,
 * `POST /label-studio/:pipeline` for Label Studio's annotation webhooks, `GET /metrics` (Prometheus),
 * the REST API under `/api/v1` (./api) and `GET /health`. Bodies are taken as raw bytes whatever their
 * type, because signatures cover the exact bytes; the intake decides what is acceptable. Every refusal
 * is JSON `{ error, reason }`.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { fromAcceptLanguage, langOf, pickLang, t } from '../core/i18n';
import { stringifyLossless } from '../core/json-text';
import { metrics } from '../observe/metrics';
import type { Service } from '../run/serve';
import { registerApi } from './api/index';

export function buildServer(service: Service): FastifyInstance {
  const langFor = (req: FastifyRequest) => req.lang ?? pickLang(fromAcceptLanguage(req.headers['accept-language']), langOf(service.env.SLUICE_LANG));
  const app = Fastify({ logger: false, bodyLimit: service.maxBodyBytes, return503OnClosing: true });

  // answers may hold sync values with integers past 2^53 (BigInts): written as the numbers they are
  app.setReplySerializer((payload) => stringifyLossless(payload));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post<{ Params: { pipeline: string; source: string } }>('/hooks/:pipeline/:source', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = await service.receive(req.params.pipeline, req.params.source, req.headers, body);
    return reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
  });

  app.post<{ Params: { pipeline: string } }>('/label-studio/:pipeline', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = service.labelStudioHook(req.params.pipeline, req.headers, body);
    return reply.code(answer.status).send(answer.body);
  });

  // webhook requests by route and status; unknown pipelines and sources (404) are not labelled by
  // name, so a caller cannot grow the label sets with made-up paths
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== '/hooks/:pipeline/:source' && route !== '/label-studio/:pipeline') return;
    const params = req.params as { pipeline?: string; source?: string };
    const known = reply.statusCode !== 404;
    metrics.webhookRequests.inc({ route, pipeline: known ? (params.pipeline ?? '') : '', source: known ? (params.source ?? '') : '', status: String(reply.statusCode) });
  });

  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));

  registerApi(app, service);

  app.get('/health', async (_req, reply) => {
    const health = await service.health();
    return reply.code(health.status === 'ok' ? 200 : 503).send(health);
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', reason: t(langFor(req), 'api.not_found.route', { method: req.method, path: req.url.split('?')[0]! }) });
  });

  // Fastify's own refusals (body over the limit, a broken request) in the same shape as ours.
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const limit = req.routeOptions.bodyLimit ?? service.maxBodyBytes;
    const reason = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? t(langFor(req), 'api.body_too_large', { limit }) : err.message;
    reply.code(status).send({ error: status === 413 ? 'payload_too_large' : status < 500 ? 'bad_request' : 'internal_error', reason });
  });

  return app;
}
