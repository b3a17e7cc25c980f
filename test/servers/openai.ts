/**
 * A local HTTP server that behaves like OpenAI's Chat Completions endpoint, for the tests of the LLM refine
 * step: the real `openai` client talks to it through `new OpenAI({ baseURL: server.baseURL, apiKey })` and
 * cannot tell the difference. It follows /work/shared/reference/openai-compatible.md: `POST
 * /v1/chat/completions` only, bearer auth, the ChatCompletion body, OpenAI's error body
 * `{"error":{"message","type","param","code"}}`, and the response headers the client and its retry logic read
 * (`x-request-id`, `retry-after`, `retry-after-ms`, `x-should-retry`, plus the informational `x-ratelimit-*`).
 *
 * Each valid request is answered by `respond` (by default, JSON that satisfies the requested json_schema), or
 * by a reply queued with `failNext`; `replies` holds ready-made ones (rate limit, server error, prose,
 * truncated JSON). Streaming (`stream: true`) is not implemented and is refused with a 400.
 */
import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { LocalServer, readBody } from './local-server';

export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown }[];
  response_format?: unknown;
  [k: string]: unknown;
}

export interface ErrorObject {
  message: string;
  type: string;
  param?: string | null;
  code?: string | null;
}

/** A completion: served as a 200 ChatCompletion. `usage` defaults to the estimate described on `FakeOpenAI`. */
export interface ContentReply {
  content: string | null;
  /** default 'stop' */
  finishReason?: 'stop' | 'length' | 'content_filter';
  /** default null; a refusal normally comes with `content: null` */
  refusal?: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

/**
 * Anything else: `status` with OpenAI's error body (`error`, or a default for the status), or `rawBody` sent
 * as is (e.g. a malformed 200). `headers` override the defaults, content type included.
 */
export interface StatusReply {
  status: number;
  headers?: Record<string, string>;
  error?: ErrorObject;
  rawBody?: string;
}

export type Reply = ContentReply | StatusReply;

export interface RecordedRequest {
  method: string;
  /** path and query, as sent */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** the parsed JSON body, or the raw text when it is not JSON ('' when there was none) */
  body: unknown;
  /** the status served; 0 while pending, and for a request whose client went away before the answer */
  status: number;
}

const API_VERSION = '2020-10-01';
const COMPLETIONS = '/v1/chat/completions';
/** the quotas of a small paid tier, per minute; only reported in `x-ratelimit-*`, never enforced */
const REQUESTS_PER_MINUTE = 60;
const TOKENS_PER_MINUTE = 150_000;
const WINDOW_MS = 60_000;
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const SCHEMA_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** A client error of the API, served with OpenAI's error body. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: Required<ErrorObject>,
  ) {
    super(error.message);
  }
}

function invalid(message: string, param: string | null, code: string | null = null): ApiError {
  return new ApiError(400, { message, type: 'invalid_request_error', param, code });
}

export class FakeOpenAI {
  /**
   * Decides the answer to each valid request (auth passed, body valid, nothing queued by `failNext`).
   * `attempt` is the client's `x-stainless-retry-count` header: 0 on the first try, n on the n-th retry.
   * Default: `defaultReply`. If it throws, the request gets a 500 with `x-should-retry: false` and the message.
   */
  respond: (req: ChatRequest, attempt: number) => Reply | Promise<Reply> = defaultReply;
  /** milliseconds to wait before answering any request, for timeout tests */
  delayMs = 0;
  readonly requests: RecordedRequest[] = [];

  private readonly http: LocalServer;
  private readonly apiKey: string;
  private readonly queue: Reply[] = [];
  /** (time, tokens) of each request served in the last minute, for the `x-ratelimit-*` headers */
  private readonly window: { at: number; tokens: number }[] = [];
  private readonly fingerprint = `fp_${randomBytes(5).toString('hex')}`;

  private constructor(apiKey: string) {
    this.apiKey = apiKey;
    this.http = new LocalServer((req, res) => void this.handle(req, res));
  }

  /** Listens on 127.0.0.1, on a free port. The key it accepts defaults to 'test-key'. */
  static async start(options: { apiKey?: string } = {}): Promise<FakeOpenAI> {
    const api = new FakeOpenAI(options.apiKey ?? 'test-key');
    await api.http.listen();
    return api;
  }

  /** e.g. `http://127.0.0.1:41234/v1`: the client's `baseURL` */
  get baseURL(): string {
    return `${this.http.origin}/v1`;
  }

  /** The next `count` valid requests (auth passed, body valid) get `reply` instead; calls queue up in order. */
  failNext(count: number, reply: Reply): void {
    for (let i = 0; i < count; i++) this.queue.push(reply);
  }

  /** idempotent, so an `afterEach` can close whatever the test started */
  close(): Promise<void> {
    return this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: '', status: 0 };
    this.requests.push(record);
    const text = await readBody(req);
    record.body = parseJson(text) ?? text;
    try {
      if (this.delayMs > 0) await this.http.sleep(this.delayMs);
      const path = new URL(req.url ?? '/', this.http.origin).pathname;
      if (req.method !== 'POST' || path !== COMPLETIONS) {
        // OpenAI's answer to any unknown method + path, before auth
        throw new ApiError(404, { message: `Invalid URL (${req.method ?? ''} ${path})`, type: 'invalid_request_error', param: null, code: null });
      }
      this.authorize(req.headers.authorization);
      const request = validate(text);
      const attempt = Number(req.headers['x-stainless-retry-count'] ?? '0');
      const reply = this.queue.shift() ?? (await this.answer(request, Number.isInteger(attempt) && attempt >= 0 ? attempt : 0));
      if ('status' in reply) return this.sendStatus(res, record, started, reply);
      const completion = this.completion(request, reply);
      this.send(res, record, started, 200, JSON.stringify(completion), {}, completion.usage.total_tokens);
    } catch (err) {
      if (err instanceof ApiError) return this.send(res, record, started, err.status, JSON.stringify({ error: err.error }));
      // a bug here: the test sees it in the response rather than as a crash of the test process
      const message = `FakeOpenAI: ${err instanceof Error ? err.message : String(err)}`;
      this.send(res, record, started, 500, JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } }), { 'x-should-retry': 'false' });
    }
  }

  private async answer(request: ChatRequest, attempt: number): Promise<Reply> {
    try {
      return await this.respond(request, attempt);
    } catch (err) {
      // a bug in the test's `respond`: show it, and keep the client from calling it twice more
      const message = `FakeOpenAI: respond threw: ${err instanceof Error ? err.message : String(err)}`;
      return { status: 500, headers: { 'x-should-retry': 'false' }, error: { message, type: 'server_error' } };
    }
  }

  private authorize(header: string | undefined): void {
    // OpenAI's messages for the two cases; both come with code invalid_api_key here so a test can match on it
    if (header === undefined || !/^bearer /i.test(header)) {
      throw new ApiError(401, {
        message:
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
          '(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you\'re accessing the API from your browser and are prompted for a username and password.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      });
    }
    const key = header.slice('bearer '.length);
    if (key !== this.apiKey) {
      throw new ApiError(401, {
        message: `Incorrect API key provided: ${redact(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      });
    }
  }

  private completion(request: ChatRequest, reply: ContentReply) {
    const content = reply.content;
    const finishReason = reply.finishReason ?? 'stop';
    let usage = reply.usage;
    if (!usage) {
      // a model cut off by its limit used all of it
      const limit = request.max_completion_tokens ?? request.max_tokens;
      const written = Math.ceil((content ?? reply.refusal ?? '').length / 4);
      const completionTokens = finishReason === 'length' && typeof limit === 'number' ? limit : written;
      usage = { prompt_tokens: Math.ceil(messagesText(request.messages) / 4), completion_tokens: completionTokens };
    }
    return {
      id: `chatcmpl-${randomId(29)}`,
      object: 'chat.completion' as const,
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      choices: [{ index: 0, message: { role: 'assistant' as const, content, refusal: reply.refusal ?? null }, logprobs: null, finish_reason: finishReason }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      system_fingerprint: this.fingerprint,
      service_tier: 'default',
    };
  }

  private sendStatus(res: ServerResponse, record: RecordedRequest, started: number, reply: StatusReply): void {
    const error: Required<ErrorObject> = {
      message: reply.error?.message ?? STATUS_CODES[reply.status] ?? 'Error',
      type: reply.error?.type ?? (reply.status >= 500 ? 'server_error' : 'invalid_request_error'),
      param: reply.error?.param ?? null,
      code: reply.error?.code ?? null,
    };
    this.send(res, record, started, reply.status, reply.rawBody ?? JSON.stringify({ error }), reply.headers);
  }

  private send(res: ServerResponse, record: RecordedRequest, started: number, status: number, body: string, extra: Record<string, string> = {}, tokens = 0): void {
    record.status = status;
    if (res.destroyed) {
      record.status = 0; // the client gave up (timeout, abort) or close() ran while we were waiting
      return;
    }
    const now = Date.now();
    while (this.window.length > 0 && this.window[0].at <= now - WINDOW_MS) this.window.shift();
    this.window.push({ at: now, tokens });
    const used = this.window.reduce((sum, r) => sum + r.tokens, 0);
    // a quota refills evenly over the minute: one request every 1 s, `used` tokens in used/limit of a minute
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-request-id': `req_${randomBytes(16).toString('hex')}`,
      'openai-organization': 'user-fakeopenai',
      'openai-processing-ms': String(now - started),
      'openai-version': API_VERSION,
      'x-ratelimit-limit-requests': String(REQUESTS_PER_MINUTE),
      'x-ratelimit-limit-tokens': String(TOKENS_PER_MINUTE),
      'x-ratelimit-remaining-requests': String(Math.max(0, REQUESTS_PER_MINUTE - this.window.length)),
      'x-ratelimit-remaining-tokens': String(Math.max(0, TOKENS_PER_MINUTE - used)),
      'x-ratelimit-reset-requests': goDuration(WINDOW_MS / REQUESTS_PER_MINUTE),
      'x-ratelimit-reset-tokens': goDuration(Math.ceil((Math.min(used, TOKENS_PER_MINUTE) / TOKENS_PER_MINUTE) * WINDOW_MS)),
    };
    for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  }

}

/**
 * The default `respond`: for `response_format.type` 'json_schema', `sampleFor` its schema as JSON text; for
 * 'json_object', `{"ok":true}`; otherwise a short prose sentence. Exported so a custom `respond` can fall back to it.
 */
export function defaultReply(req: ChatRequest): Reply {
  const format = asRecord(req.response_format);
  if (format?.type === 'json_schema') {
    const schema = asRecord(format.json_schema)?.schema;
    return { content: JSON.stringify(schema === undefined ? {} : sampleFor(schema)) };
  }
  if (format?.type === 'json_object') return { content: '{"ok":true}' };
  return { content: 'This is a reply from the fake OpenAI server.' };
}

/** Ready-made replies, shaped like OpenAI's. Return them from `respond` or queue them with `failNext`. */
export const replies = {
  /**
   * 429 `rate_limit_exceeded` with the request quota used up. `retry-after` (seconds) and `retry-after-ms` are
   * sent only when asked for; without either, the client falls back to its own backoff (0.5 s, 1 s, … ×0.75–1).
   */
  rateLimited(opts: { retryAfterSeconds?: number; retryAfterMs?: number } = {}): Reply {
    const headers: Record<string, string> = { 'x-ratelimit-remaining-requests': '0' };
    if (opts.retryAfterSeconds !== undefined) headers['retry-after'] = String(opts.retryAfterSeconds);
    if (opts.retryAfterMs !== undefined) headers['retry-after-ms'] = String(opts.retryAfterMs);
    const waitMs = opts.retryAfterMs ?? (opts.retryAfterSeconds === undefined ? 1000 : opts.retryAfterSeconds * 1000);
    headers['x-ratelimit-reset-requests'] = goDuration(waitMs);
    const message =
      `Rate limit reached for requests per min (RPM): Limit ${REQUESTS_PER_MINUTE}, Used ${REQUESTS_PER_MINUTE}, Requested 1. ` +
      `Please try again in ${goDuration(waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
    return { status: 429, headers, error: { message, type: 'requests', param: null, code: 'rate_limit_exceeded' } };
  },
  /** `status` (default 500) with type 'server_error'; the client retries it (unless `x-should-retry: false`) */
  serverError(status = 500): Reply {
    const message =
      status === 503 ? 'The server is overloaded or not ready yet.' : 'The server had an error while processing your request. Sorry about that!';
    return { status, error: { message, type: 'server_error', param: null, code: null } };
  },
  /** 200, finish_reason 'stop', content that is prose and not JSON (a model ignoring the response format) */
  prose(text = 'Sure! The invoice is number 42 from ACME, and the total comes to 99.50 EUR.'): Reply {
    return { content: text };
  },
  /** 200, finish_reason 'length', content cut off mid-JSON: the first half of `json` (default: a small object) */
  truncated(json = '{"number":"42","vendor":"ACME Corporation","total":99.5,"currency":"EUR"}'): Reply {
    return { content: json.slice(0, Math.ceil(json.length / 2)), finishReason: 'length' };
  },
};

/**
 * A JSON value that satisfies a (simple) JSON Schema: `const`, `enum` (first value), local `$ref`s, `anyOf` /
 * `oneOf` / `allOf` (first non-null branch), objects (every listed property), arrays (one item, or `minItems`),
 * strings (the property's name, or 'sample'; a few `format`s), numbers and integers within their bounds,
 * booleans, nullable types (the non-null one).
 */
export function sampleFor(schema: unknown): unknown {
  return sample(schema, schema, 'sample', 0);
}

function sample(node: unknown, root: unknown, name: string, depth: number): unknown {
  const s = asRecord(node);
  if (!s || depth > 32) return null;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (typeof s.$ref === 'string') return sample(resolveRef(root, s.$ref), root, name, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const branches = s[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const branch = branches.find((b) => asRecord(b)?.type !== 'null') ?? branches[0];
      return sample(branch, root, name, depth + 1);
    }
  }
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const type = types.find((t) => t !== 'null') ?? types[0] ?? (s.properties ? 'object' : s.items || s.prefixItems ? 'array' : undefined);
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(asRecord(s.properties) ?? {})) out[key] = sample(value, root, key, depth + 1);
      return out;
    }
    case 'array': {
      const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : undefined;
      if (tuple) return tuple.map((item: unknown) => sample(item, root, name, depth + 1));
      if (s.maxItems === 0) return [];
      const count = typeof s.minItems === 'number' && s.minItems > 1 ? s.minItems : 1;
      return Array.from({ length: count }, () => sample(s.items ?? {}, root, name, depth + 1));
    }
    case 'string':
      return sampleString(s, name);
    case 'number':
    case 'integer':
      return sampleNumber(s, type === 'integer');
    case 'boolean':
      return true;
    default:
      return null;
  }
}

function sampleString(s: Record<string, unknown>, name: string): string {
  const formats: Record<string, string> = {
    'date-time': '2024-01-01T00:00:00Z',
    date: '2024-01-01',
    time: '00:00:00Z',
    email: 'user@example.com',
    uri: 'https://example.com/',
    url: 'https://example.com/',
    uuid: '00000000-0000-4000-8000-000000000000',
  };
  let text = (typeof s.format === 'string' ? formats[s.format] : undefined) ?? name;
  if (typeof s.minLength === 'number') text = text.padEnd(s.minLength, 'x');
  if (typeof s.maxLength === 'number') text = text.slice(0, s.maxLength);
  return text;
}

function sampleNumber(s: Record<string, unknown>, integer: boolean): number {
  const step = integer ? 1 : 0.5;
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const low = num(s.minimum) ?? (num(s.exclusiveMinimum) === undefined ? undefined : (num(s.exclusiveMinimum) as number) + step);
  const high = num(s.maximum) ?? (num(s.exclusiveMaximum) === undefined ? undefined : (num(s.exclusiveMaximum) as number) - step);
  if (low !== undefined) return integer ? Math.ceil(low) : low;
  if (high !== undefined && high < 1) return integer ? Math.floor(high) : high;
  return 1;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    node = asRecord(node)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

/** The checks OpenAI makes that a client is likely to trip over, with OpenAI's messages, params and codes. */
function validate(text: string): ChatRequest {
  const body = asRecord(parseJson(text));
  if (!body) {
    throw invalid(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. " +
        'The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)',
      null,
    );
  }
  for (const field of ['model', 'messages']) {
    if (!(field in body)) throw invalid(`Missing required parameter: '${field}'.`, field, 'missing_required_parameter');
  }
  if (typeof body.model !== 'string') throw invalid(`Invalid type for 'model': expected a string, but got ${typeName(body.model)} instead.`, 'model', 'invalid_type');
  const messages = body.messages;
  if (!Array.isArray(messages)) throw invalid(`Invalid type for 'messages': expected an array, but got ${typeName(messages)} instead.`, 'messages', 'invalid_type');
  if (messages.length === 0) {
    throw invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  }
  messages.forEach((m: unknown, i) => {
    const role = asRecord(m)?.role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(`Invalid value for 'messages[${i}].role': expected one of ${[...ROLES].join(', ')}.`, `messages[${i}].role`, 'invalid_value');
    }
  });
  if (body.stream === true) throw invalid('FakeOpenAI does not implement streaming (stream: true).', 'stream', 'unsupported_value');
  const request = body as ChatRequest;
  if (request.response_format !== undefined) validateFormat(request);
  return request;
}

function validateFormat(request: ChatRequest): void {
  const format = asRecord(request.response_format);
  const type = format?.type;
  if (type !== 'text' && type !== 'json_object' && type !== 'json_schema') {
    throw invalid("Invalid value for 'response_format.type': expected one of 'text', 'json_object', 'json_schema'.", 'response_format.type', 'invalid_value');
  }
  if (type === 'json_schema') {
    const spec = asRecord(format?.json_schema);
    if (!spec) throw invalid("Missing required parameter: 'response_format.json_schema'.", 'response_format.json_schema', 'missing_required_parameter');
    if (typeof spec.name !== 'string') {
      throw invalid("Missing required parameter: 'response_format.json_schema.name'.", 'response_format.json_schema.name', 'missing_required_parameter');
    }
    if (!SCHEMA_NAME.test(spec.name)) {
      throw invalid(
        `Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters.`,
        'response_format.json_schema.name',
        'invalid_value',
      );
    }
  }
  // JSON mode: OpenAI refuses it unless the prompt asks for JSON, so the model is not left writing whitespace
  if (type === 'json_object' && !request.messages.some((m) => /json/i.test(textOf(m.content)))) {
    throw invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", 'messages', null);
  }
}

/** characters of text in the messages: string contents, and the `text` of content parts */
function messagesText(messages: ChatRequest['messages']): number {
  return messages.reduce((sum, m) => sum + textOf(m.content).length, 0);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: unknown) => asRecord(part)?.text).filter((t): t is string => typeof t === 'string').join('');
}


function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** `sk-abc…wxyz` as OpenAI prints it: the first 3 and last 4 characters */
function redact(key: string): string {
  return key.length <= 8 ? key : `${key.slice(0, 3)}${'*'.repeat(Math.min(key.length - 7, 20))}${key.slice(-4)}`;
}

function randomId(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
}

/** Go's time.Duration text, as OpenAI writes `x-ratelimit-reset-*`: `0s`, `12ms`, `1s`, `8.64s`, `6m0s`, `1h2m3s` */
function goDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${trim(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = `${trim((ms % 60_000) / 1000)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}

function trim(n: number): string {
  return String(Number(n.toFixed(3)));
}
