/**
 * GET a JSON page from an API, the way a polite and persistent client does: a timeout per request, a
 * client-side rate limit, and retries with exponential backoff and jitter (p-retry) on network errors,
 * timeouts, 429 and 5xx, waiting at least as long as the server asks (`Retry-After`, or a rate-limit
 * reset). A request that fails for good says which URL, which status and what the body said.
 */
import pRetry, { AbortError } from 'p-retry';
import { msg } from '../../core/i18n';
import { SluiceError, messageOf, type ErrorContext } from '../../core/errors';
import { metrics } from '../../observe/metrics';

export interface GetJsonOptions {
  headers: Record<string, string>;
  timeoutMs: number;
  retries: number;
  /** The first retry's delay; each next one doubles, with jitter. */
  retryDelayMs: number;
  /** A server asking to wait longer than this fails the request instead. */
  maxRetryWaitMs: number;
  limiter?: RateLimiter;
  signal: AbortSignal;
  context: ErrorContext;
  onRetry?(info: { url: string; attempt: number; reason: string; waitMs: number }): void;
}

export interface JsonResponse {
  url: string;
  status: number;
  headers: Headers;
  body: unknown;
}

/** Spaces request starts at least `1 / perSecond` apart (a bucket of one: no bursts). */
export class RateLimiter {
  private next = 0;
  constructor(private readonly perSecond: number) {}

  async take(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.perSecond;
    if (at > now) await sleep(at - now, signal);
  }
}

export async function getJson(url: string, o: GetJsonOptions): Promise<JsonResponse> {
  let attempts = 0;
  return pRetry(
    async () => {
      attempts++;
      o.signal.throwIfAborted();
      await o.limiter?.take(o.signal);
      const res = await fetchOnce(url, o);
      const text = await res.text().catch((err: unknown) => {
        throw new RetryableError(`reading the body failed: ${messageOf(err)}`);
      });
      if (res.ok) return { url, status: res.status, headers: res.headers, body: parseBody(url, res, text, o.context) };
      const reason = `${res.status} ${res.statusText}`.trim();
      const wait = waitHint(res);
      if (isRetryable(res)) throw new RetryableError(`${reason}: ${excerpt(text)}`, res.status, wait);
      throw new AbortError(httpError(url, `${reason}: ${excerpt(text)}`, attempts, o.context, res.status));
    },
    {
      retries: o.retries,
      factor: 2,
      minTimeout: o.retryDelayMs,
      maxTimeout: Math.max(o.retryDelayMs, 60_000),
      randomize: true,
      onFailedAttempt: async (err) => {
        const failure = err as unknown as RetryableError & { retriesLeft: number; attemptNumber: number };
        if (!(failure instanceof RetryableError)) throw err; // a bug or an abort: do not retry
        if (failure.retriesLeft === 0) throw httpError(url, failure.message, attempts, o.context, failure.status);
        const waitMs = failure.waitMs ?? 0;
        if (waitMs > o.maxRetryWaitMs) {
          throw httpError(url, `${failure.message} (the server asks to wait ${Math.ceil(waitMs / 1000)} s, more than maxRetryWait)`, attempts, o.context, failure.status);
        }
        metrics.retries.inc({ pipeline: o.context.pipeline ?? '', component: 'pull' });
        o.onRetry?.({ url: redactUrl(url), attempt: failure.attemptNumber, reason: failure.message, waitMs });
        // p-retry adds its own backoff after this; the server's hint is the floor.
        if (waitMs > 0) await sleep(waitMs, o.signal);
      },
    },
  );
}

class RetryableError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly waitMs?: number,
  ) {
    super(message);
  }
}

async function fetchOnce(url: string, o: GetJsonOptions): Promise<Response> {
  const signal = AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]);
  try {
    return await fetch(url, { headers: { accept: 'application/json', ...o.headers }, signal, redirect: 'follow' });
  } catch (err) {
    if (o.signal.aborted) throw new AbortError(o.signal.reason instanceof Error ? o.signal.reason : new Error('cancelled'));
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    throw new RetryableError(timedOut ? `no answer within ${o.timeoutMs / 1000} s` : `cannot reach the server: ${networkReason(err)}`);
  }
}

function isRetryable(res: Response): boolean {
  if (res.status === 408 || res.status === 429 || res.status >= 500) return true;
  // GitHub signals its primary and secondary rate limits with 403 too.
  return res.status === 403 && (res.headers.get('x-ratelimit-remaining') === '0' || res.headers.has('retry-after'));
}

/** How long the server asks us to wait, in ms: `Retry-After` (seconds or a date), else a rate-limit reset. */
export function waitHint(res: { status: number; headers: Headers }, now = Date.now()): number | undefined {
  const retryAfter = res.headers.get('retry-after');
  if (retryAfter !== null) {
    const seconds = Number(retryAfter.trim());
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const limited = res.status === 429 || res.headers.get('x-ratelimit-remaining') === '0' || res.headers.get('ratelimit-remaining') === '0';
  const reset = res.headers.get('x-ratelimit-reset') ?? res.headers.get('ratelimit-reset');
  if (limited && reset !== null && Number.isFinite(Number(reset))) {
    const n = Number(reset);
    // X-RateLimit-Reset is an epoch time (GitHub); the IETF RateLimit-Reset is a number of seconds.
    return Math.max(0, n > 1e9 ? n * 1000 - now : n * 1000);
  }
  return undefined;
}

function parseBody(url: string, res: Response, text: string, context: ErrorContext): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const type = res.headers.get('content-type') ?? 'no content type';
    throw new AbortError(
      new SluiceError('SLUICE_PULL_RESPONSE', msg('err.extract.pull.http.1', { url: redactUrl(url), status: res.status, type, body: excerpt(text) }), context),
    );
  }
}

function httpError(url: string, what: string, attempts: number, context: ErrorContext, status?: number): SluiceError {
  const tries = attempts === 1 ? '' : ` (after ${attempts} attempts)`;
  return new SluiceError('SLUICE_PULL_HTTP', msg('err.extract.pull.http.2', { url: redactUrl(url), tries, what }), { ...context, ...(status ? { status } : {}) });
}

function networkReason(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
  return cause ? `${messageOf(err)} (${messageOf(cause)})` : messageOf(err);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat || '(empty body)';
}

const SECRET_PARAM = /token|key|secret|password|signature|auth/i;

/** The URL without credentials: user info dropped, values of secret-looking query parameters masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    return url;
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
