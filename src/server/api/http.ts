/**
 * What every API route shares: the token's principal on the request, refusals in one shape, tenant
 * scoping, and request bodies checked against their schemas.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { t, type Lang, type MessageCode } from '../../core/i18n';
import { parseLossless } from '../../core/json-text';
import type { Principal } from '../../run/api-tokens';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** the language answers are in: `Accept-Language`, else `SLUICE_LANG`, else en-US */
    lang?: Lang;
  }
  interface FastifyInstance {
    /** `GET /api/v1/runs/{id}`, ... : the API routes registered */
    apiRoutes: string[];
  }
}

export type Reply = FastifyReply;

/** API bodies are small settings, never data. */
export const BODY_LIMIT = 64 * 1024;

/** A catalog message in the request's language. */
export const say = (reply: Reply, code: MessageCode, params?: Record<string, string | number>) => t(reply.request.lang ?? 'en-US', code, params);

export const notFound = (reply: Reply, what: MessageCode, params: Record<string, string>) =>
  reply.code(404).send({ error: 'not_found', reason: say(reply, 'api.not_found', { what: say(reply, what, params) }) });
export const badRequest = (reply: Reply, reason: string) => reply.code(400).send({ error: 'bad_request', reason });

export const adminOnly = async (req: FastifyRequest, reply: Reply) => {
  if (req.principal?.tenant !== null) return reply.code(403).send({ error: 'forbidden', reason: say(reply, 'api.forbidden.admin') });
};

/** The tenant a request is about: the token's own, or (admin) the `tenant` query parameter. */
export function tenantOf(req: FastifyRequest<{ Querystring: { tenant?: string } }>, reply: Reply): string | undefined {
  const own = req.principal!.tenant;
  if (own !== null) return own;
  if (!req.query.tenant) return void badRequest(reply, say(reply, 'api.tenant_needed'));
  return req.query.tenant;
}

/** A `limit` query parameter: 1 to 1000, `fallback` when absent; undefined (and a 400 sent) when wrong. */
export function limitOf(text: string | undefined, fallback: number, reply: Reply): number | undefined {
  const limit = text === undefined ? fallback : Number(text);
  if (Number.isInteger(limit) && limit >= 1 && limit <= 1000) return limit;
  return void badRequest(reply, say(reply, 'api.limit'));
}

/** A JSON body checked against its schema; on a problem, a 400 naming the field and what was expected. */
export function parseBody<S extends z.ZodType>(raw: unknown, schema: S, reply: Reply): z.output<S> | undefined {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : '';
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = parseLossless(text); // a value for a sync field keeps an integer past 2^53 whole
    } catch (err) {
      return void badRequest(reply, say(reply, 'api.body_not_json', { reason: (err as Error).message }));
    }
  }
  const parsed = schema.safeParse(value, { error: zodErrors(reply.request.lang ?? 'en-US') });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  return void badRequest(reply, issue.path.length ? say(reply, 'api.invalid_field', { field: issue.path.join('.'), reason: issue.message }) : issue.message);
}


/** Zod's own messages in the language, for request bodies checked against a schema. */
function zodErrors(lang: Lang): z.core.$ZodErrorMap | undefined {
  return lang === 'zh-CN' ? z.locales.zhCN().localeError : undefined;
}
