/**
 * An HTTP REST resource as a sync side: an issue tracker's issues, a CRM's contacts. Its changes come from
 * the pull extractor (pagination, `since`, auth, retries, rate limit), handed in as a change feed; reads
 * by key and every write go through the shared HTTP client (`core/http-client.ts`) with the same headers,
 * timeouts, retries and rate limit: GET the item URL, POST to the create URL, PATCH or PUT the item, DELETE it.
 *
 * An API has no transactions, so each op is one request (or two, see `create`) that stands alone. They
 * are sent one at a time, in order, as APIs such as GitHub ask of writes. An op the API refuses (a 4xx)
 * fails alone and the others go on. An API that cannot be reached, does not answer in time or keeps
 * answering 5xx stops the batch with SLUICE_SYNC_SIDE, which counts toward the side's circuit breaker:
 * what was written before stays written, and the next run reads it back and finds both sides agreeing.
 */
import { SluiceError, isSluiceError, type ErrorCode } from '../../core/errors';
import { redactUrl, requestJson, type HttpMethod, type JsonResponse, type RateLimiter } from '../../core/http-client';
import { msg } from '../../core/i18n';
import { formatJsonPath, getJsonPath, type JsonPath } from '../../core/json-path';
import { losslessIntegers, parseLossless, stringifyLossless } from '../../core/json-text';
import { mapLimit } from '../../core/map-limit';
import type { Checkpoint, JsonObject } from '../../core/record';
import { metrics } from '../../observe/metrics';
import type { ApplyResult, ChangeBatch, ChangeFeed, Side, SideOp, SideRow } from '../side';
import { fieldOf, sameValue } from '../values';

export interface HttpSideConfig {
  name: string;
  pipeline: string;
  /** One record's URL with `{key}` where its key goes (several key fields: their values joined by `/`). */
  item: string;
  /** Where POST creates a record; default: `item` up to `/{key}`. */
  create?: string;
  update: 'PATCH' | 'PUT';
  /** Whether the API deletes records; without, a delete op fails with the reason. */
  delete: boolean;
  /** Where a record's key is (the pull extractor's `key`). */
  key: readonly JsonPath[];
  /** Where the time it last changed is (the pull extractor's `cursor.field`). */
  cursor?: JsonPath;
  /** Sent with every request, authentication included. */
  headers: Record<string, string>;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  maxRetryWaitMs: number;
  /** Spaces every request to the API (shared with the side's change feed). */
  limiter?: RateLimiter;
  /** Values every created record gets, for fields the mapping does not fill. */
  defaults: JsonObject;
}

const KEY = '{key}';
/** GETs in flight at once: enough to hide latency, few enough not to trip an API's abuse limits. */
const READS_IN_FLIGHT = 4;
const NEVER = new AbortController().signal;

export class HttpSide implements Side {
  readonly name: string;
  private readonly limiter?: RateLimiter;

  constructor(
    private readonly config: HttpSideConfig,
    private readonly feed: ChangeFeed,
    /** Cancels reads; a write in flight is let finish, as its outcome could not be known otherwise. */
    private readonly signal: AbortSignal = NEVER,
  ) {
    this.name = config.name;
    this.limiter = config.limiter;
  }

  private get where() {
    return { pipeline: this.config.pipeline, source: this.config.name };
  }

  /**
   * An API has no catalog: the first page of the listing stands for it. It shows the API answers (with
   * these credentials), and a mapped field that no record there has is taken for a typo and reported.
   */
  async open(fields: readonly string[]): Promise<string[]> {
    const needs = this.config.create === undefined ? `/${KEY}` : KEY;
    if (!this.config.item.includes(needs)) {
      throw new SluiceError('SLUICE_CONFIG_INVALID', msg('err.sync.http.item', { side: this.name, placeholder: needs, url: redactUrl(this.config.item) }), this.where);
    }
    const seen = new Set<string>();
    for await (const batch of this.changes(undefined, this.signal)) {
      for (const row of batch.rows) for (const field of Object.keys(row.data)) seen.add(field);
      break;
    }
    if (seen.size > 0) {
      for (const field of fields) {
        if (!seen.has(field)) {
          throw new SluiceError('SLUICE_SYNC_COLUMN', msg('err.sync.http.field', { side: this.name, field, fields: [...seen].join(', ') }), { ...this.where, field });
        }
      }
    }
    return [...seen];
  }

  async *changes(since: Checkpoint | undefined, signal: AbortSignal): AsyncIterable<ChangeBatch> {
    try {
      await this.feed.open();
      for await (const batch of this.feed.extract(since)) {
        signal.throwIfAborted();
        const rows: SideRow[] =
          batch.rows.kind === 'records'
            ? batch.rows.records.filter((r) => r.json !== null).map((r) => ({ key: r.key, changedAt: r.cursor, data: parseLossless(r.json!) as JsonObject }))
            : [];
        yield { rows, checkpoint: batch.checkpoint };
      }
    } catch (err) {
      throw this.readFailure(err);
    } finally {
      await this.feed.close();
    }
  }

  async get(keys: readonly string[]): Promise<Map<string, SideRow>> {
    const rows = await mapLimit(keys, READS_IN_FLIGHT, (key) => this.read(key));
    const out = new Map<string, SideRow>();
    keys.forEach((key, i) => {
      const row = rows[i];
      if (row) out.set(key, row);
    });
    return out;
  }

  /**
   * An API cannot be asked for records by any field, so this walks the whole listing (one request a page)
   * and keeps the records whose field holds one of the values, stopping once every value is found. The
   * cost: with `match`, one walk for every batch of records the other side has that are not linked yet
   * (each new ticket, say), and one for every create a crashed run left unfinished. Fine for the first
   * run's matching of two small systems; on a big listing, expect it and mind the API's rate limit.
   */
  async findBy(field: string, values: readonly string[]): Promise<Map<string, SideRow>> {
    const wanted = new Set(values);
    const out = new Map<string, SideRow>();
    if (wanted.size === 0) return out;
    for await (const batch of this.changes(undefined, this.signal)) {
      for (const row of batch.rows) {
        const v = fieldOf(row.data, field);
        if (v === null || v === undefined || typeof v === 'object') continue;
        if (wanted.has(String(v)) && !out.has(String(v))) out.set(String(v), row);
      }
      if (out.size === wanted.size) break;
    }
    return out;
  }

  async missing(keys: readonly string[]): Promise<string[]> {
    const found = await this.get(keys);
    return keys.filter((k) => !found.has(k));
  }

  async apply(ops: readonly SideOp[]): Promise<ApplyResult[]> {
    const results: ApplyResult[] = [];
    for (const op of ops) {
      try {
        results.push({ ok: true, ...(await this.applyOne(op)) });
      } catch (err) {
        if (!(isSluiceError(err) && err.code === 'SLUICE_SYNC_WRITE')) throw err; // the side failed, not this record
        results.push({ ok: false, error: err });
      }
    }
    return results;
  }

  private async applyOne(op: SideOp): Promise<{ key: string; row: SideRow | null }> {
    if (op.op === 'delete') {
      if (!this.config.delete) throw new SluiceError('SLUICE_SYNC_WRITE', msg('err.sync.http.no_delete', { side: this.name, key: op.key }), { ...this.where, key: op.key });
      // gone already (deleted by someone else, or by an attempt whose answer was lost): what was asked is so
      await this.write(op, 'DELETE', this.itemUrl(op.key), undefined, [404, 410]);
      return { key: op.key, row: null };
    }
    if (op.op === 'update') return { key: op.key, row: await this.update(op, op.key, op.values) };
    return this.create(op);
  }

  /**
   * POST, and the record as the answer holds it (or as its `Location` reads). An API may ignore fields on
   * create — GitHub opens every new issue, whatever `state` says — so the fields the answer does not hold
   * as sent go again in an update: the record ends up as the other side has it. Once the POST is taken
   * the record exists and must be linked, so a failing follow-up leaves the record as created rather than
   * failing the op (that would create it again next run); `sluice check` shows the difference.
   */
  private async create(op: Extract<SideOp, { op: 'create' }>): Promise<{ key: string; row: SideRow }> {
    const url = this.config.create ?? this.config.item.slice(0, this.config.item.indexOf(`/${KEY}`));
    const res = await this.write(op, 'POST', url, { ...this.config.defaults, ...op.values });
    let row: SideRow;
    const location = res.headers.get('location');
    if (isObject(res.body)) row = this.rowOf(res, 'POST', url);
    else if (location) {
      const at = new URL(location, url).toString();
      row = this.rowOf(await this.request('GET', at, { refused: 'SLUICE_SYNC_SIDE' }), 'GET', at);
    }
    else throw new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.http.not_record', { side: this.name, method: 'POST', url: redactUrl(url), value: shown(res.body) }), this.where);
    const left: JsonObject = {};
    for (const [field, value] of Object.entries(op.values)) if (!holds(fieldOf(row.data, field), value)) left[field] = value;
    if (Object.keys(left).length === 0) return { key: row.key, row };
    try {
      return { key: row.key, row: await this.update({ op: 'update', key: row.key, values: left }, row.key, left, row.data) };
    } catch {
      return { key: row.key, row };
    }
  }

  /** PATCH sends the changed fields; PUT replaces the record, so it sends the record whole with them set. */
  private async update(op: SideOp, key: string, values: JsonObject, current?: JsonObject): Promise<SideRow> {
    const url = this.itemUrl(key);
    let body = values;
    if (this.config.update === 'PUT') {
      const now = current ?? (await this.read(key))?.data;
      if (!now) throw this.gone(op, key, url);
      body = { ...now, ...values };
    }
    const res = await this.write(op, this.config.update, url, body);
    if (isObject(res.body)) return this.rowOf(res, this.config.update, url, key);
    // 204 or an answer that is not the record: read what the write left
    const row = await this.read(key);
    if (!row) throw this.gone(op, key, url);
    return row;
  }

  /** The record with this key, or undefined when the API says it is not there (404, 410). */
  private async read(key: string): Promise<SideRow | undefined> {
    const url = this.itemUrl(key);
    const res = await this.request('GET', url, { accept: [404, 410], refused: 'SLUICE_SYNC_SIDE', signal: this.signal });
    return res.status === 404 || res.status === 410 ? undefined : this.rowOf(res, 'GET', url, key);
  }

  /** A write: the API refusing it (a 4xx) is this op's failure, SLUICE_SYNC_WRITE with the status, URL and body. */
  private async write(op: SideOp, method: HttpMethod, url: string, body: unknown, accept?: readonly number[]): Promise<JsonResponse> {
    try {
      return await this.request(method, url, { body, refused: 'SLUICE_SYNC_WRITE', ...(accept ? { accept } : {}) });
    } catch (err) {
      if (!(isSluiceError(err) && err.code === 'SLUICE_SYNC_WRITE')) throw err;
      const key = op.op === 'create' ? undefined : op.key;
      throw new SluiceError('SLUICE_SYNC_WRITE', msg('err.sync.http.write', { side: this.name, op: op.op, key: key ?? '(new)', reason: err.message }), { ...err.context, ...(key ? { key } : {}) }, { cause: err });
    }
  }

  private gone(op: SideOp, key: string, url: string): SluiceError {
    return new SluiceError('SLUICE_SYNC_WRITE', msg('err.sync.http.gone', { side: this.name, op: op.op, key, url: redactUrl(url) }), { ...this.where, key, status: 404 });
  }

  /**
   * One request with the side's headers, timeouts, retries and rate limit. A server that cannot be
   * reached or keeps failing is the side's failure (SLUICE_SYNC_SIDE), and so are refused credentials
   * (401): every request would fail alike, so no record is to blame.
   */
  private async request(method: HttpMethod, url: string, o: { refused: ErrorCode; body?: unknown; accept?: readonly number[]; signal?: AbortSignal }): Promise<JsonResponse> {
    const c = this.config;
    try {
      return await requestJson(method, url, {
        headers: c.headers,
        timeoutMs: c.timeoutMs,
        retries: c.retries,
        retryDelayMs: c.retryDelayMs,
        maxRetryWaitMs: c.maxRetryWaitMs,
        ...(this.limiter ? { limiter: this.limiter } : {}),
        signal: o.signal ?? NEVER,
        context: this.where,
        codes: { refused: o.refused, unavailable: 'SLUICE_SYNC_SIDE', response: 'SLUICE_SYNC_SIDE' },
        ...(o.accept ? { accept: o.accept } : {}),
        ...(o.body === undefined ? {} : { body: o.body }),
        onRetry: () => metrics.retries.inc({ pipeline: c.pipeline, component: 'sync' }),
      });
    } catch (err) {
      if (!isSluiceError(err) || !(err.code === 'SLUICE_SYNC_SIDE' || err.context.status === 401)) throw err;
      throw new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.http.failed', { side: this.name, reason: err.message }), err.context, { cause: err });
    }
  }

  /** The feed's failures (the pull extractor's codes) are this side's: they count toward its breaker. */
  private readFailure(err: unknown): unknown {
    if (!isSluiceError(err) || !err.code.startsWith('SLUICE_PULL_')) return err;
    return new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.http.read', { side: this.name, reason: err.message }), { ...err.context, ...this.where }, { cause: err });
  }

  private itemUrl(key: string): string {
    const parts = this.config.key.length === 1 ? [key] : (JSON.parse(key) as string[]);
    return this.config.item.replace(KEY, parts.map(encodeURIComponent).join('/'));
  }

  /**
   * The record an answer holds. Its integers past 2^53 are kept whole, as BigInts (see `parseLossless`):
   * its key finds it again, the other side gets the number that was there, and sent back to the API such
   * a value goes as the number it is.
   */
  private rowOf(res: JsonResponse, method: string, url: string, key?: string): SideRow {
    const body = losslessIntegers(res.body, res.text);
    if (!isObject(body)) {
      throw new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.http.not_record', { side: this.name, method, url: redactUrl(url), value: shown(body) }), this.where);
    }
    const found = key ?? this.keyOf(body);
    if (found === undefined) {
      throw new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.http.no_key', { side: this.name, method, url: redactUrl(url), path: this.config.key.map(formatJsonPath).join(', ') }), this.where);
    }
    const c = this.config.cursor ? getJsonPath(body, this.config.cursor) : undefined;
    return { key: found, changedAt: c === null || c === undefined ? null : String(c), data: body };
  }

  /** The key as the pull extractor writes it: the value as text, or a JSON array of texts for several. */
  private keyOf(data: JsonObject): string | undefined {
    const parts = this.config.key.map((p) => getJsonPath(data, p));
    if (parts.some((v) => v === null || v === undefined || typeof v === 'object')) return undefined;
    const texts = parts.map(String);
    return texts.length === 1 ? texts[0] : JSON.stringify(texts);
  }

  async close(): Promise<void> {
    await this.feed.close();
  }
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function shown(v: unknown): string {
  return v === null ? 'an empty body' : (stringifyLossless(v) ?? String(v)).slice(0, 80);
}

/**
 * Whether the API's value says what was sent: the same value, or the API's fuller form of it — a label
 * name sent, a label object naming it back; a list compared item by item in any order.
 */
function holds(answer: unknown, sent: unknown): boolean {
  if (sameValue(answer, sent)) return true;
  if (Array.isArray(sent) && Array.isArray(answer)) return sent.length === answer.length && sent.every((s) => answer.some((a) => holds(a, s)));
  if (sent !== null && typeof sent !== 'object' && isObject(answer)) return Object.values(answer).some((v) => sameValue(v, sent));
  return false;
}
