/**
 * The fake OpenAI server the LLM refine tests run against, exercised with the real `openai` client: whatever
 * the client makes of its answers (results, error classes, retries) is what it makes of OpenAI's.
 */
import OpenAI from 'openai';
import { LengthFinishReasonError } from 'openai/core/error';
import { FakeOpenAI, type ChatRequest, defaultReply, replies, sampleFor } from '../servers/openai';

const INVOICE = {
  type: 'object',
  additionalProperties: false,
  required: ['number', 'vendor', 'total', 'currency', 'lines', 'paid', 'note'],
  properties: {
    number: { type: 'string' },
    vendor: { type: 'string', minLength: 10 },
    total: { type: 'number', minimum: 0 },
    currency: { type: 'string', enum: ['EUR', 'USD'] },
    lines: { type: 'array', items: { type: 'object', required: ['qty'], properties: { qty: { type: 'integer', exclusiveMinimum: 0 } } } },
    paid: { type: 'boolean' },
    note: { type: ['string', 'null'] },
  },
} as const;

const MESSAGES = [
  { role: 'system' as const, content: 'Extract fields.' },
  { role: 'user' as const, content: 'Invoice 42 from ACME, total 99.50 EUR' },
];

const invoiceRequest = {
  model: 'gpt-4o-mini',
  temperature: 0,
  messages: MESSAGES,
  response_format: { type: 'json_schema' as const, json_schema: { name: 'invoice', strict: true, schema: INVOICE } },
};

describe('FakeOpenAI', () => {
  let server: FakeOpenAI;
  let client: OpenAI;
  beforeEach(async () => {
    server = await FakeOpenAI.start();
    client = new OpenAI({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 2 });
  });
  afterEach(() => server.close());

  const retryCounts = (): unknown[] => server.requests.map((r) => r.headers['x-stainless-retry-count']);

  describe('completions', () => {
    it('answers a json_schema request with JSON that matches the schema, and usage', async () => {
      const completion = await client.chat.completions.create(invoiceRequest);
      const choice = completion.choices[0];
      expect(choice.finish_reason).toBe('stop');
      expect(choice.message.role).toBe('assistant');
      expect(choice.message.refusal).toBeNull();
      const parsed: unknown = JSON.parse(choice.message.content ?? 'null');
      expect(parsed).toEqual({ number: 'number', vendor: 'vendorxxxx', total: 0, currency: 'EUR', lines: [{ qty: 1 }], paid: true, note: 'note' });

      const chars = MESSAGES.reduce((n, m) => n + m.content.length, 0);
      const content = choice.message.content ?? '';
      expect(completion.usage).toEqual({
        prompt_tokens: Math.ceil(chars / 4),
        completion_tokens: Math.ceil(content.length / 4),
        total_tokens: Math.ceil(chars / 4) + Math.ceil(content.length / 4),
      });
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions', status: 200, body: invoiceRequest });
      expect(server.requests[0].headers.authorization).toBe('Bearer test-key');
    });

    it('serves the ChatCompletion shape and the headers of the reference', async () => {
      const { data, response, request_id } = await client.chat.completions.create(invoiceRequest).withResponse();
      expect(Object.keys(data).sort()).toEqual(['choices', 'created', 'id', 'model', 'object', 'service_tier', 'system_fingerprint', 'usage']);
      expect(data).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini', service_tier: 'default' });
      expect(data.id).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/);
      expect(Math.abs(data.created - Date.now() / 1000)).toBeLessThan(5);
      expect(Object.keys(data.choices[0]).sort()).toEqual(['finish_reason', 'index', 'logprobs', 'message']);
      expect(data.choices[0].logprobs).toBeNull();
      expect(Object.keys(data.choices[0].message).sort()).toEqual(['content', 'refusal', 'role']);

      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(request_id).toBe(response.headers.get('x-request-id'));
      const awaited = await client.chat.completions.create(invoiceRequest);
      expect(awaited._request_id).toMatch(/^req_[0-9a-f]{32}$/);
      expect(response.headers.get('openai-version')).toBe('2020-10-01');
      expect(response.headers.get('openai-processing-ms')).toMatch(/^\d+$/);
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('60');
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('59');
      expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(150_000 - (data.usage?.total_tokens ?? 0)));
      expect(response.headers.get('x-ratelimit-reset-requests')).toBe('1s');
      expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(\.\d+)?m?s$/);
    });

    it('answers json_object with {"ok":true} and a plain request with prose', async () => {
      const json = await client.chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'Answer in JSON.' }],
        response_format: { type: 'json_object' },
      });
      expect(json.choices[0].message.content).toBe('{"ok":true}');
      const text = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] });
      expect(() => JSON.parse(text.choices[0].message.content ?? '')).toThrow();
    });

    it('passes the request and the attempt to respond, and serves its content, refusal and usage', async () => {
      const seen: [ChatRequest, number][] = [];
      server.respond = (req, attempt) => {
        seen.push([req, attempt]);
        return { content: null, refusal: "I'm sorry, I can't help with that.", usage: { prompt_tokens: 7, completion_tokens: 3 } };
      };
      const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] });
      expect(seen).toEqual([[{ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }, 0]]);
      expect(completion.choices[0].message).toEqual({ role: 'assistant', content: null, refusal: "I'm sorry, I can't help with that." });
      expect(completion.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    });

    it('serves prose and truncated replies as such', async () => {
      server.failNext(1, replies.prose());
      server.failNext(1, replies.truncated());
      const prose = await client.chat.completions.create(invoiceRequest);
      expect(prose.choices[0].finish_reason).toBe('stop');
      expect(() => JSON.parse(prose.choices[0].message.content ?? '')).toThrow(SyntaxError);

      const cut = await client.chat.completions.create({ ...invoiceRequest, max_completion_tokens: 12 });
      expect(cut.choices[0].finish_reason).toBe('length');
      expect(cut.choices[0].message.content).toMatch(/^\{"number":"42"/);
      expect(() => JSON.parse(cut.choices[0].message.content ?? '')).toThrow(SyntaxError);
      expect(cut.usage?.completion_tokens).toBe(12); // cut off at the limit the request set
    });

    it('makes the parse() helper throw LengthFinishReasonError on a truncated reply', async () => {
      server.failNext(1, replies.truncated());
      await expect(client.chat.completions.parse(invoiceRequest)).rejects.toBeInstanceOf(LengthFinishReasonError);
      const parsed = await client.chat.completions.parse(invoiceRequest);
      expect(parsed.choices[0].message.parsed).toMatchObject({ currency: 'EUR', paid: true });
    });

    it('sends rawBody as is: a malformed 200 makes the client fail to parse', async () => {
      server.failNext(1, { status: 200, rawBody: '{"id": "chatcmpl-1", "choi' });
      // the client does not wrap it in an OpenAIError, and does not retry; the SyntaxError comes from the realm
      // outside jest's sandbox, so `toThrow(SyntaxError)` would not match it
      await expect(client.chat.completions.create(invoiceRequest)).rejects.toMatchObject({ name: 'SyntaxError' });
      expect(server.requests).toHaveLength(1);
    });
  });

  describe('errors', () => {
    it('refuses a wrong key with 401 invalid_api_key, which the client does not retry', async () => {
      const wrong = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-wrong-key-123456', maxRetries: 2 });
      const err: unknown = await wrong.chat.completions.create(invoiceRequest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err).toMatchObject({ status: 401, type: 'invalid_request_error', code: 'invalid_api_key', param: null });
      expect((err as Error).message).toMatch(/^401 Incorrect API key provided: sk-\**3456\./);
      expect(server.requests).toHaveLength(1);
      expect(server.requests[0].status).toBe(401);
    });

    it('refuses a missing Authorization header with 401', async () => {
      const res = await fetch(`${server.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(invoiceRequest) });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    });

    it('retries a 429 with retry-after: 0 until it succeeds, counting attempts', async () => {
      server.failNext(2, replies.rateLimited({ retryAfterSeconds: 0 }));
      const attempts: number[] = [];
      server.respond = (req, attempt) => {
        attempts.push(attempt);
        return defaultReply(req);
      };
      const started = Date.now();
      const completion = await client.chat.completions.create(invoiceRequest);
      expect(Date.now() - started).toBeLessThan(400); // no backoff
      expect(completion.choices[0].finish_reason).toBe('stop');
      expect(server.requests.map((r) => r.status)).toEqual([429, 429, 200]);
      expect(retryCounts()).toEqual(['0', '1', '2']);
      expect(attempts).toEqual([2]);
    });

    it('waits retry-after-ms, and gives up with RateLimitError after maxRetries', async () => {
      server.failNext(3, replies.rateLimited({ retryAfterMs: 30 }));
      const started = Date.now();
      const err: unknown = await client.chat.completions.create(invoiceRequest).catch((e: unknown) => e);
      expect(Date.now() - started).toBeGreaterThanOrEqual(55);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(err).toMatchObject({ status: 429, type: 'requests', code: 'rate_limit_exceeded' });
      const headers = (err as InstanceType<typeof OpenAI.RateLimitError>).headers;
      expect(headers.get('retry-after-ms')).toBe('30');
      expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(headers.get('x-ratelimit-reset-requests')).toBe('30ms');
      expect(server.requests).toHaveLength(3);
    });

    it('gives up on a 500 with InternalServerError after exactly maxRetries + 1 requests', async () => {
      server.failNext(3, { ...replies.serverError(), headers: { 'retry-after': '0' } });
      const err: unknown = await client.chat.completions.create(invoiceRequest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err).toMatchObject({ status: 500, type: 'server_error', code: null });
      expect(server.requests).toHaveLength(3);
      expect(retryCounts()).toEqual(['0', '1', '2']);
    });

    it('does not retry a 500 that says x-should-retry: false', async () => {
      server.failNext(3, { ...replies.serverError(503), headers: { 'x-should-retry': 'false' } });
      await expect(client.chat.completions.create(invoiceRequest)).rejects.toMatchObject({ status: 503 });
      expect(server.requests).toHaveLength(1);
    });

    it('answers a body without messages with 400 param messages, without calling respond or the queue', async () => {
      server.failNext(1, replies.serverError());
      server.respond = () => {
        throw new Error('respond must not be called');
      };
      const res = await fetch(`${server.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini' }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' },
      });
      expect(server.requests[0]).toMatchObject({ body: { model: 'gpt-4o-mini' }, status: 400 });
    });

    it.each([
      ['not JSON', 'model=gpt', null],
      ['model not a string', JSON.stringify({ model: 4, messages: MESSAGES }), 'model'],
      ['messages empty', JSON.stringify({ model: 'm', messages: [] }), 'messages'],
      ['a message without a role', JSON.stringify({ model: 'm', messages: [{ content: 'x' }] }), 'messages[0].role'],
      ['json_schema without a name', JSON.stringify({ ...invoiceRequest, response_format: { type: 'json_schema', json_schema: { schema: INVOICE } } }), 'response_format.json_schema.name'],
      ['json_object without "json" in the prompt', JSON.stringify({ model: 'm', messages: MESSAGES, response_format: { type: 'json_object' } }), 'messages'],
    ])('answers 400 for %s', async (_, body, param) => {
      const res = await fetch(`${server.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer test-key' }, body });
      expect(res.status).toBe(400);
      const json = (await res.json()) as { error: Record<string, unknown> };
      expect(json.error).toMatchObject({ type: 'invalid_request_error', param });
      expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    });

    it('makes the client throw BadRequestError for a 400, without retrying', async () => {
      const err: unknown = await client.chat.completions.create({ model: 'm', messages: [] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, param: 'messages', code: 'empty_array' });
      expect(server.requests).toHaveLength(1);
    });

    it('answers 404 with the error body for any other path or method', async () => {
      const res = await fetch(`${server.baseURL}/completions`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { message: 'Invalid URL (POST /v1/completions)', type: 'invalid_request_error', param: null, code: null } });
      await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      expect(server.requests.map((r) => [r.method, r.url, r.status])).toEqual([
        ['POST', '/v1/completions', 404],
        ['GET', '/v1/models', 404],
      ]);
    });

    it('times out a slow answer: APIConnectionError (a timeout error under plain node, not in jest)', async () => {
      const impatient = new OpenAI({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 0 });
      // the first fetch of a process spends ~200 ms loading undici after the client starts its timer, so a short
      // timeout on a cold client can fire before the request is even sent: warm it up first
      await impatient.chat.completions.create(invoiceRequest);
      server.delayMs = 500;
      // Under plain node this is APIConnectionTimeoutError. In jest's sandbox the AbortError that fetch throws
      // is a DOMException of another realm, which the client's castToError turns into Error('{}') and loses the
      // name, so it reports a plain APIConnectionError ("Connection error."). The timeout class is a subclass.
      await expect(impatient.chat.completions.create(invoiceRequest, { timeout: 100 })).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
      expect(server.requests).toHaveLength(2);
      // sent only for a per-request timeout, in whole seconds, truncated
      expect(server.requests.map((r) => r.headers['x-stainless-timeout'])).toEqual([undefined, '0']);
    });

    it('turns a respond that throws into a 500 the client does not retry', async () => {
      server.respond = () => {
        throw new Error('boom');
      };
      await expect(client.chat.completions.create(invoiceRequest)).rejects.toThrow('500 FakeOpenAI: respond threw: boom');
      expect(server.requests).toHaveLength(1);
    });
  });
});

describe('sampleFor', () => {
  it.each([
    [{ type: 'string' }, 'sample'],
    [{ type: 'string', format: 'date-time' }, '2024-01-01T00:00:00Z'],
    [{ type: 'string', maxLength: 3 }, 'sam'],
    [{ type: 'integer', minimum: 5 }, 5],
    [{ type: 'number', exclusiveMaximum: 0 }, -0.5],
    [{ type: 'boolean' }, true],
    [{ type: 'null' }, null],
    [{ enum: ['b', 'a'] }, 'b'],
    [{ const: 7 }, 7],
    [{ anyOf: [{ type: 'null' }, { type: 'integer' }] }, 1],
    [{ type: ['null', 'boolean'] }, true],
    [{ type: 'array', items: { type: 'integer' }, minItems: 2 }, [1, 1]],
    [{ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] }, ['sample', 1]],
    [{ type: 'object', properties: { a: { $ref: '#/$defs/A' } }, $defs: { A: { type: 'object', properties: { b: { type: 'string' } } } } }, { a: { b: 'b' } }],
  ])('%j → %j', (schema, expected) => {
    expect(sampleFor(schema)).toEqual(expected);
  });
});
