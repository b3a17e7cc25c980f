/**
 * JSON over HTTP, the way a polite and persistent client does it: a timeout per request, a client-side
 * rate limit, and retries with exponential backoff and jitter (p-retry) on network errors, timeouts, 429
 * and 5xx, waiting at least as long as the server asks (`Retry-After`, or a rate-limit reset). A request
 * that fails for good says which method and URL (credentials masked), which status and what the body said.
 *
 * A write is retried only when sending it again cannot do it twice (see `mayRetry`). The pull extractor
 * lists pages through this client (`extract/pull/http.ts`); the HTTP sync side reads and writes records
 * through it. `core` does not count metrics: a caller that does passes `onRetry`.
 */
import pRetry, { AbortError } from 'p-retry';
import { SluiceError, messageOf, type ErrorCode, type ErrorContext } from './errors';
import { msg } from './i18n';
import { stringifyLossless } from './json-text';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RetryInfo {
  method: HttpMethod;
  /** redacted */
  url: string;
  attempt: number;
  reason: string;
  waitMs: number;
}

export interface RequestOptions {
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
  /**
   * The codes a failure is raised with, from the caller's part of the catalog: `refused` for an error
   * status that asking again would not change (most 4xx), `unavailable` for a server that could not be
   * reached or kept failing (network, timeout, 429, 5xx, after every retry allowed), `response` for a
   * success whose body is not JSON.
   */
  codes: { refused: ErrorCode; unavailable: ErrorCode; response: ErrorCode };
  /** Error statuses that are an answer rather than a failure (a GET of a record that is gone: 404, 410). */
  accept?: readonly number[];
  /** Sent as JSON, with `Content-Type: application/json`. */
  body?: unknown;
  onRetry?(info: RetryInfo): void;
}

export interface JsonResponse {
  url: string;
  status: number;
  headers: Headers;
  /** The parsed body; null for 204 or an empty body (and for an accepted error status whose body is not JSON). */
  body: unknown;
  /** The body as text, for what parsing loses (the digits of integers past 2^53: see `core/json-text`). */
  text: string;
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

export async function requestJson(method: HttpMethod, url: string, o: RequestOptions): Promise<JsonResponse> {
  let attempts = 0;
  const fail = (code: ErrorCode, what: string, status?: number) => httpError(code, method, url, what, attempts, o.context, status);
  return pRetry(
    async () => {
      attempts++;
      o.signal.throwIfAborted();
      await o.limiter?.take(o.signal);
      let res: Response;
      try {
        res = await fetchOnce(method, url, o);
      } catch (err) {
        if (err instanceof NetworkError && !mayRetry(method, { unsent: err.unsent })) {
          throw new AbortError(fail(o.codes.unavailable, `${err.message} (not sent again: the server may have taken it)`));
        }
        throw err;
      }
      const text = await res.text().catch((err: unknown) => {
        const what = `reading the body failed: ${messageOf(err)}`;
        // the server has answered: a POST it took is done, whatever became of the body
        if (idempotent(method)) throw new RetryableError(what);
        throw new AbortError(fail(o.codes.unavailable, what, res.status));
      });
      if (res.ok) return { url, status: res.status, headers: res.headers, body: parseBody(method, url, res, text, o), text };
      if (o.accept?.includes(res.status)) return { url, status: res.status, headers: res.headers, body: parseLoose(text), text };
      const reason = `${`${res.status} ${res.statusText}`.trim()}: ${excerpt(text)}`;
      if (!transient(res)) throw new AbortError(fail(o.codes.refused, reason, res.status));
      if (!mayRetry(method, { res })) throw new AbortError(fail(o.codes.unavailable, reason, res.status));
      throw new RetryableError(reason, res.status, waitHint(res));
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
        if (failure.retriesLeft === 0) throw fail(o.codes.unavailable, failure.message, failure.status);
        const waitMs = failure.waitMs ?? 0;
        if (waitMs > o.maxRetryWaitMs) {
          throw fail(o.codes.unavailable, `${failure.message} (the server asks to wait ${Math.ceil(waitMs / 1000)} s, more than maxRetryWait)`, failure.status);
        }
        o.onRetry?.({ method, url: redactUrl(url), attempt: failure.attemptNumber, reason: failure.message, waitMs });
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

/** No answer: the server could not be reached, or did not answer in time. */
class NetworkError extends RetryableError {
  constructor(
    message: string,
    /** Certainly never sent (refused, no address): safe to send again whatever the method. */
    readonly unsent: boolean,
  ) {
    super(message);
  }
}

async function fetchOnce(method: HttpMethod, url: string, o: RequestOptions): Promise<Response> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = AbortSignal.any([o.signal, timeout]);
  // an integer past 2^53 held as a BigInt (see `core/json-text`) goes as the number it is
  const body = o.body === undefined ? {} : { body: stringifyLossless(o.body) };
  // the caller's headers replace the defaults whatever their case (`Accept: application/vnd.github+json`)
  const headers = new Headers({ accept: 'application/json', ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) });
  for (const [name, value] of Object.entries(o.headers)) headers.set(name, value);
  try {
    return await fetch(url, { method, headers, ...body, signal, redirect: 'follow' });
  } catch (err) {
    if (o.signal.aborted) throw new AbortError(o.signal.reason instanceof Error ? o.signal.reason : new Error('cancelled'));
    // by the signal, not the error's class: fetch may wrap the abort, and a test runner's realm has its own DOMException
    if (timeout.aborted) throw new NetworkError(`no answer within ${o.timeoutMs / 1000} s`, false);
    throw new NetworkError(`cannot reach the server: ${networkReason(err)}`, neverSent(err));
  }
}

/** Sending it twice leaves the server as sending it once: GET, PUT and DELETE, and PATCH, which sets fields to values. */
function idempotent(method: HttpMethod): boolean {
  return method !== 'POST';
}

/**
 * Whether a failed attempt may be sent again. Reads and idempotent writes (PUT, DELETE, and PATCH, which
 * sets fields to the values it carries) are retried on every transient failure. A POST is not: after a
 * network error or a timeout it may have reached the server and created its record, and sending it again
 * would create a second one. A POST is retried only when the server cannot have acted on it: the
 * connection was refused or the host name did not resolve (nothing was sent), a rate limit refused it
 * (429, or GitHub's 403 with `x-ratelimit-remaining: 0`), or 503 with `Retry-After` (the server says it
 * did not take the request and when to come back).
 */
function mayRetry(method: HttpMethod, failure: { res: Response } | { unsent: boolean }): boolean {
  if (idempotent(method)) return true;
  if ('unsent' in failure) return failure.unsent;
  const res = failure.res;
  return rateLimited(res) || (res.status === 503 && res.headers.has('retry-after'));
}

/** The request never left this machine: refused, or no address to send it to. */
const UNSENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function neverSent(err: unknown): boolean {
  // duck-typed: fetch's errors may come from another realm (a test runner's), where `instanceof Error` fails
  const cause = (err as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | null)?.cause;
  if (typeof cause !== 'object' || cause === null) return false;
  if (typeof cause.code === 'string' && UNSENT.has(cause.code)) return true;
  // several addresses tried (IPv6 and IPv4): an AggregateError, unsent only if every one was refused
  return Array.isArray(cause.errors) && cause.errors.length > 0 && cause.errors.every((e) => typeof e.code === 'string' && UNSENT.has(e.code));
}

/** A failure that may go away by itself: worth asking again. */
function transient(res: Response): boolean {
  return res.status === 408 || res.status >= 500 || rateLimited(res);
}

function rateLimited(res: Response): boolean {
  if (res.status === 429) return true;
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

function parseBody(method: HttpMethod, url: string, res: Response, text: string, o: RequestOptions): unknown {
  if (res.status === 204 || text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    const type = res.headers.get('content-type') ?? 'no content type';
    throw new AbortError(
      new SluiceError(o.codes.response, msg('err.core.http.not_json', { method, url: redactUrl(url), status: res.status, type, body: excerpt(text) }), { ...o.context, status: res.status }),
    );
  }
}

function parseLoose(text: string): unknown {
  try {
    return text.trim() === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

function httpError(code: ErrorCode, method: HttpMethod, url: string, what: string, attempts: number, context: ErrorContext, status?: number): SluiceError {
  const tries = attempts === 1 ? '' : ` (after ${attempts} attempts)`;
  return new SluiceError(code, msg('err.core.http.failed', { method, url: redactUrl(url), tries, what }), { ...context, ...(status ? { status } : {}) });
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return typeof cause === 'object' && cause !== null ? `${messageOf(err)} (${messageOf(cause)})` : messageOf(err);
}

/** A body cut to 300 characters on one line, for a message. */
export function excerpt(text: string): string {
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

/** How an API wants its caller to say who it is, as request headers. */
export type HttpAuth = { bearer: string } | { header: { name: string; value: string } } | { basic: { username: string; password: string } };

export function authHeaders(auth: HttpAuth | undefined): Record<string, string> {
  if (!auth) return {};
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  if ('header' in auth) return { [auth.header.name]: auth.header.value };
  return { authorization: `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}` };
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
