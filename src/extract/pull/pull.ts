/**
 * The pull extractor: lists records from an HTTP API page by page, each page one batch.
 *
 * Incremental pulls keep the highest `(cursor, key)` seen; the next run asks for records changed since
 * that cursor (the parameter is inclusive on most APIs, so the boundary is read again and the store's
 * content hash makes the overlap harmless). While a walk is under way, the checkpoint also holds where it
 * goes on and the `since` it started from, so a run that dies between pages continues the same walk
 * instead of starting over or — worse — skipping what later pages held.
 */
import { SluiceError, type ErrorContext } from '../../core/errors';
import { msg } from '../../core/i18n';
import { formatJsonPath as formatPath, getJsonPath, parseJsonPath, type JsonPath } from '../../core/json-path';
import { oneLine, scalarText } from '../../core/json-text';
import { keyText, type Batch, type Checkpoint, type Field, type SourceRecord } from '../../core/record';
import { defineExtractor, type ExtractContext, type Extractor } from '../extractor';
import { pullConfig, type PullConfig } from './config';
import { getJson, RateLimiter, redactUrl } from './http';
import { walkPages, type PageResume } from './paginate';

interface CursorPair {
  cursor: string;
  key: string;
}

export interface PullCheckpoint {
  /** The highest pair seen by the last finished walk. */
  last?: CursorPair;
  /** A walk under way. */
  walk?: { since: string | null; resume: PageResume; max?: CursorPair };
}

export const pullExtractor = defineExtractor({
  kind: 'pull',
  description: 'Pull records from a paginated HTTP API, incrementally, with retries and a rate limit.',
  config: pullConfig,
  create: (config, ctx) => new PullExtractor(config, ctx),
});

/**
 * A pull whose requests take their turns from `limiter`, shared with other requests to the same API (a
 * sync side's reads and writes), so the file's `rateLimit` holds for all of them together.
 */
export function limitedPull(config: PullConfig, ctx: ExtractContext, limiter: RateLimiter | undefined): Extractor {
  return new PullExtractor(config, ctx, limiter);
}

class PullExtractor implements Extractor {
  private readonly limiter?: RateLimiter;
  private readonly context: ErrorContext;
  private readonly tenant: { path: JsonPath } | { value: string };

  constructor(
    private readonly config: PullConfig,
    private readonly ctx: ExtractContext,
    limiter = config.rateLimit ? new RateLimiter(config.rateLimit.perSecond) : undefined,
  ) {
    this.limiter = limiter;
    this.context = { pipeline: ctx.pipeline, source: ctx.source };
    this.tenant = 'value' in ctx.tenant ? { value: ctx.tenant.value } : { path: parseJsonPath(ctx.tenant.column) };
  }

  /** An API has no catalog to check against: the records describe themselves. */
  async open(): Promise<Field[]> {
    return [];
  }

  async *extract(from?: Checkpoint): AsyncIterable<Batch> {
    const state = (from ?? {}) as PullCheckpoint;
    const since = state.walk ? state.walk.since : this.sinceFor(state.last);
    let max = state.walk ? state.walk.max : state.last;
    for await (const page of walkPages(
      { firstUrl: this.firstUrl(since), paginate: this.config.paginate, records: this.config.records, get: (url) => this.get(url), context: this.context },
      state.walk?.resume,
    )) {
      const records = page.records.map((r) => this.recordOf(r.value, r.text));
      for (const r of records) if (r.cursor !== null) max = higher(max, { cursor: r.cursor, key: r.key });
      const checkpoint: PullCheckpoint = page.next ? { walk: { since, resume: page.next, ...(max ? { max } : {}) } } : max ? { last: max } : {};
      yield { rows: { kind: 'records', records }, checkpoint: checkpoint as Checkpoint };
    }
  }

  async close(): Promise<void> {}

  private firstUrl(since: string | null): URL {
    const url = new URL(this.config.url);
    for (const [name, value] of Object.entries(this.config.params)) url.searchParams.set(name, value);
    if (since !== null && this.config.cursor) url.searchParams.set(this.config.cursor.param, since);
    return url;
  }

  /** The value to ask from: the highest cursor seen, less the look-back window. */
  private sinceFor(last: CursorPair | undefined): string | null {
    if (!last || !this.config.cursor) return null;
    const back = this.config.cursor.lookback;
    if (!back) return last.cursor;
    const n = Number(last.cursor);
    if (last.cursor.trim() !== '' && Number.isFinite(n)) return String(n - back);
    const t = Date.parse(last.cursor);
    return Number.isNaN(t) ? last.cursor : new Date(t - back * 1000).toISOString();
  }

  private get(url: string) {
    const c = this.config;
    return getJson(url, {
      headers: { ...c.headers, ...authHeaders(c.auth) },
      timeoutMs: c.timeout * 1000,
      retries: c.retries,
      retryDelayMs: c.retryDelay * 1000,
      maxRetryWaitMs: c.maxRetryWait * 1000,
      limiter: this.limiter,
      signal: this.ctx.signal,
      context: this.context,
    });
  }

  /** The record from an item of a page and its text there: the text is staged, so every digit is kept. */
  private recordOf(item: unknown, text: string): SourceRecord {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new SluiceError('SLUICE_PULL_RESPONSE', msg('err.extract.pull.pull.1', { value: this.where(), value2: JSON.stringify(item)?.slice(0, 80) }), this.context);
    }
    const key = keyText(
      this.config.key.map((path) => {
        const v = getJsonPath(item, path);
        if (v === null || v === undefined || typeof v === 'object') {
          throw new SluiceError('SLUICE_PULL_RESPONSE', msg('err.extract.pull.pull.2', { value: this.where(), path: formatPath(path), value2: JSON.stringify(v) ?? 'missing' }), this.context);
        }
        return scalarText(v, text, path)!;
      }),
    );
    let tenant: string;
    if ('value' in this.tenant) tenant = this.tenant.value;
    else {
      const v = getJsonPath(item, this.tenant.path);
      if (v === null || v === undefined || typeof v === 'object') {
        throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.extract.pull.pull.3', { value: this.where(), key, path: formatPath(this.tenant.path) }), { ...this.context, key });
      }
      tenant = scalarText(v, text, this.tenant.path)!;
    }
    const field = this.config.cursor?.field;
    const c = field ? getJsonPath(item, field) : undefined;
    return { tenant, key, op: 'upsert', cursor: c === null || c === undefined ? null : (scalarText(c, text, field!) ?? String(c)), json: oneLine(text) };
  }

  private where(): string {
    return `${this.ctx.pipeline}/${this.ctx.source} (${redactUrl(this.config.url)})`;
  }
}

function authHeaders(auth: PullConfig['auth']): Record<string, string> {
  if (!auth) return {};
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  if ('header' in auth) return { [auth.header.name]: auth.header.value };
  return { authorization: `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}` };
}

/** Orders cursors as numbers when both are numbers, as times when both are ISO times, else as text. */
export function compareCursors(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  const s = Date.parse(a);
  const t = Date.parse(b);
  if (!Number.isNaN(s) && !Number.isNaN(t) && s !== t) return s - t;
  return a < b ? -1 : a > b ? 1 : 0;
}

function higher(a: CursorPair | undefined, b: CursorPair): CursorPair {
  if (!a) return b;
  const c = compareCursors(a.cursor, b.cursor);
  return c > 0 || (c === 0 && a.key >= b.key) ? a : b;
}
