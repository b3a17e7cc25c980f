/**
 * Who is calling: a bearer token — `SLUICE_ADMIN_TOKEN`, or a token kept (hashed) in a staging store —
 * becomes the request's principal, or the request ends with 401; then each tenant's request rate (an
 * admin token's own) is held to its limit (429 with Retry-After).
 */
import type { FastifyInstance } from 'fastify';
import { fromAcceptLanguage, langOf, pickLang } from '../../core/i18n';
import { sameSecret } from '../../core/same-secret';
import { authenticate } from '../../run/api-tokens';
import type { Service } from '../../run/serve';
import { say } from './http';

export function registerAuth(app: FastifyInstance, service: Service): void {
  const limiter = new TokenBuckets(service.apiRate.perSecond, service.apiRate.burst);
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') || req.url === '/api/v1/openapi.json') return;
    req.lang = pickLang(fromAcceptLanguage(req.headers['accept-language']), langOf(service.env.SLUICE_LANG));
    const admin = service.adminToken;
    const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given && admin && sameSecret(given, admin)) req.principal = { id: 'admin', tenant: null };
    else if (given) req.principal = await authenticate(service.allStores, given);
    if (!req.principal) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', reason: say(reply, 'api.unauthorized') });
    // the request rate is a tenant's (all its tokens together), or an admin token's own
    const wait = limiter.take(req.principal.tenant === null ? `token:${req.principal.id}` : `tenant:${req.principal.tenant}`);
    if (wait > 0) {
      return reply
        .code(429)
        .header('retry-after', String(Math.ceil(wait / 1000)))
        .send({ error: 'too_many_requests', reason: say(reply, 'api.too_many_requests', { rate: service.apiRate.perSecond, seconds: Math.ceil(wait / 1000) }) });
    }
  });
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
