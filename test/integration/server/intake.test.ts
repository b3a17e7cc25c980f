// Webhook intake through the HTTP server (`POST /hooks/:pipeline/:source`) into a real staging store:
// the twelve real GitHub deliveries are staged under their repository owners with their payloads, and a
// repeated delivery changes nothing; every refusal (signature, replay window, size, content type,
// encoding, shape, key/tenant, route) answers its status with a JSON reason and writes nothing; random and
// hostile requests always get a 4xx or 200 JSON answer and the server stays healthy; any sequence of
// deliveries, repeats and concurrent copies included, stages each delivery id exactly once (SQLite and
// PostgreSQL); and group commit stages 200 concurrent deliveries over a real socket in a few transactions.
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { signGithub, signStandardWebhook } from '../../../src/extract/push/verify';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import { SqliteStore } from '../../../src/stage/sqlite';
import type { StagingStore } from '../../../src/stage/store';
import { stagingBackends } from '../../helpers/services';

const FIXTURES = join(__dirname, '..', '..', '..', 'fixtures');
const GH_SECRET = "It's a Secret to Everybody"; // the secret the fixtures' deliveries were signed with
const HMAC_SECRET = 'hmac-intake-test-secret';
const SW_SECRET = (JSON.parse(readFileSync(join(FIXTURES, 'webhooks', 'standard-webhooks-vectors.json'), 'utf8')) as { sign_vectors: { secret: string }[] })
  .sign_vectors[0]!.secret;
const ENV = { GH_SECRET, HMAC_SECRET, SW_SECRET };

/** gh: GitHub, keyed by delivery; signed: hmac with a key path and a small limit; big: hmac with a 2 MiB limit; sw: Standard Webhooks. */
const PIPELINE = `name: hooks
sources:
  - name: gh
    push:
      verify: github
      secret: \${GH_SECRET}
      tenant: $.repository.owner.login
  - name: signed
    push:
      verify: hmac-sha256
      secret: \${HMAC_SECRET}
      header: x-signature
      key: $.id
      tenant: $.org
      maxBodyBytes: 4096
  - name: big
    push:
      verify: hmac-sha256
      secret: \${HMAC_SECRET}
      tenant: $.org
      maxBodyBytes: 2097152
  - name: sw
    push:
      verify: standard-webhooks
      secret: \${SW_SECRET}
      tenant: $.org
`;

type Route = 'gh' | 'signed' | 'big' | 'sw';
const ROUTES: readonly Route[] = ['gh', 'signed', 'big', 'sw'];
const LIMIT: Record<Route, number> = { gh: 1024 * 1024, signed: 4096, big: 2 * 1024 * 1024, sw: 1024 * 1024 };
/** Where each route finds its tenant, and its key when the key is not the delivery id. */
const TENANT_AT: Record<Route, readonly string[]> = { gh: ['repository', 'owner', 'login'], signed: ['org'], big: ['org'], sw: ['org'] };
const KEY_AT: Partial<Record<Route, readonly string[]>> = { signed: ['id'] };
const ALL = { afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER, op: 'upsert' as const };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-intake-'));
  writeFileSync(join(dir, 'hooks.yaml'), PIPELINE);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --- requests and answers -------------------------------------------------------------------------------------------

type Headers = Record<string, string | string[]>;

interface Request {
  method?: 'POST' | 'GET';
  url: string;
  headers: Headers;
  body?: Buffer;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

const hook = (source: string, pipeline = 'hooks') => `/hooks/${pipeline}/${source}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const utf8 = (text: string) => Buffer.from(text, 'utf8');
const hmacHex = (body: Buffer) => createHmac('sha256', HMAC_SECRET).update(body).digest('hex');

/** A request to `route` signed as its sender would sign it. */
function signed(route: Route, body: Buffer, opts: { id?: string; at?: number; contentType?: string } = {}): Request {
  const type = { 'content-type': opts.contentType ?? 'application/json' };
  switch (route) {
    case 'gh': {
      const id = opts.id ?? randomUUID();
      return { url: hook('gh'), headers: { ...type, 'x-github-event': 'issues', 'x-github-delivery': id, 'x-hub-signature-256': signGithub(GH_SECRET, body) }, body };
    }
    case 'signed':
    case 'big':
      return { url: hook(route), headers: { ...type, 'x-signature': hmacHex(body) }, body };
    case 'sw': {
      const id = opts.id ?? `msg_${randomUUID()}`;
      const at = opts.at ?? nowSeconds();
      return {
        url: hook('sw'),
        headers: { ...type, 'webhook-id': id, 'webhook-timestamp': String(at), 'webhook-signature': signStandardWebhook(SW_SECRET, id, at, body) },
        body,
      };
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Sends over a real socket (a new connection each time, so no request inherits another's connection state);
 * every answer, refusals included, must be a JSON object. (fastify's `inject` cannot run under jest here: its
 * light-my-request requires `cookie` 2, an ES module.) The answer counts once it has arrived, whatever the
 * socket does afterwards: a server may stop reading a body it refuses.
 */
function send(base: string, req: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const out = http.request(`${base}${req.url}`, { method: req.method ?? 'POST', headers: req.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        answered = true;
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
          const body = JSON.parse(text) as unknown;
          if (!isRecord(body)) throw new Error(`answer ${res.statusCode} is not a JSON object: ${text.slice(0, 200)}`);
          resolve({ status: res.statusCode!, body });
        } catch (err) {
          reject(err);
        }
      });
    });
    out.on('error', (err) => {
      if (!answered) reject(err);
    });
    out.end(req.body);
  });
}

/** A 200 says staged or duplicate with the id; anything else must be a 4xx `{ error, reason }`. */
function expectWellFormed(a: Answer): void {
  if (a.status === 200) {
    expect(['staged', 'duplicate']).toContain(a.body.status);
    expect(typeof a.body.id).toBe('string');
    return;
  }
  if (!(a.status >= 400 && a.status < 500)) throw new Error(`expected a 4xx or 200 answer, got ${a.status} ${JSON.stringify(a.body)}`);
  expect(a.body).toEqual({ error: expect.any(String), reason: expect.any(String) });
}

// --- the oracle: what the spec says a body is ------------------------------------------------------------------------

/** The body as a JSON object, or undefined when it is not UTF-8 JSON text holding an object. */
function jsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) return undefined; // a decoder substituted U+FFFD: not UTF-8
  if (text.startsWith('\uFEFF')) text = text.slice(1); // RFC 8259 §8.1: a parser may ignore a BOM
  try {
    const v = JSON.parse(text) as unknown;
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function at(v: unknown, path: readonly string[]): unknown {
  for (const step of path) {
    if (!isRecord(v) || !Object.hasOwn(v, step)) return undefined;
    v = v[step];
  }
  return v;
}

/** A key or tenant the intake must take (non-empty text, a number), must refuse (missing, '', null, object), or may do either (boolean). */
function usability(v: unknown): 'usable' | 'unusable' | 'either' {
  // U+0000 cannot be stored in a key or tenant (PostgreSQL text cannot hold it)
  if (typeof v === 'string' && v !== '' && !v.includes('\u0000')) return 'usable';
  if (typeof v === 'number') return 'usable';
  return typeof v === 'boolean' ? 'either' : 'unusable';
}

// --- reading the store back ------------------------------------------------------------------------------------------

interface Snapshot {
  deliveries: unknown[];
  records: unknown[];
}

/** Direct reads of the store's tables, to see exactly what was written. */
interface TableProbe {
  counts(): Promise<{ deliveries: number; records: number }>;
  /** every row of sluice_deliveries and sluice_records, in a stable order */
  snapshot(): Promise<Snapshot>;
  deliveryIds(source: string): Promise<string[]>;
  close(): Promise<void>;
}

const SQL = {
  counts: `SELECT (SELECT count(*) FROM sluice_deliveries) AS deliveries, (SELECT count(*) FROM sluice_records) AS records`,
  deliveries: `SELECT s.source, d.delivery_id, d.key, d.run_id, d.received_at FROM sluice_deliveries d JOIN sluice_streams s ON s.id = d.stream_id ORDER BY s.source, d.delivery_id`,
  records: `SELECT s.source, r.key, r.tenant, r.op, r.data, r.hash, r.seq, r.run_id, r.staged_at FROM sluice_records r JOIN sluice_streams s ON s.id = r.stream_id ORDER BY s.source, r.key`,
  ids: (p: string) => `SELECT d.delivery_id FROM sluice_deliveries d JOIN sluice_streams s ON s.id = d.stream_id WHERE s.pipeline = 'hooks' AND s.source = ${p}`,
};

function sqliteProbe(file: string): TableProbe {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  return {
    counts: async () => {
      const row = db.prepare(SQL.counts).get() as { deliveries: number; records: number };
      return { deliveries: Number(row.deliveries), records: Number(row.records) };
    },
    snapshot: async () => ({ deliveries: db.prepare(SQL.deliveries).all(), records: db.prepare(SQL.records).all() }),
    deliveryIds: async (source) => (db.prepare(SQL.ids('?')).pluck().all(source) as string[]).sort(),
    close: async () => void db.close(),
  };
}

async function postgresProbe(url: string): Promise<TableProbe> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    counts: async () => {
      const row = (await client.query<{ deliveries: string; records: string }>(SQL.counts)).rows[0]!;
      return { deliveries: Number(row.deliveries), records: Number(row.records) };
    },
    snapshot: async () => ({ deliveries: (await client.query(SQL.deliveries)).rows, records: (await client.query(SQL.records)).rows }),
    deliveryIds: async (source) => (await client.query<{ delivery_id: string }>(SQL.ids('$1'), [source])).rows.map((r) => r.delivery_id).sort(),
    close: () => client.end(),
  };
}

interface StagedRecord {
  tenant: string;
  json: string;
}

/** Every staged record of one source, by key, read through the store's own API (tenant by tenant). */
async function staged(store: StagingStore, source: Route, tenants?: string[]): Promise<Map<string, StagedRecord>> {
  const out = new Map<string, StagedRecord>();
  for (const tenant of tenants ?? (await store.tenants('hooks'))) {
    for await (const page of store.read(tenant, { pipeline: 'hooks', source, ...ALL })) {
      for (const r of page) out.set(r.key, { tenant: r.tenant, json: r.json! });
    }
  }
  return out;
}

// --- the server under test -------------------------------------------------------------------------------------------

interface Harness {
  /** where the server listens, e.g. http://127.0.0.1:41234 */
  base: string;
  /** a second connection to the same staging store, for reading */
  store: StagingStore;
  probe: TableProbe;
  close(): Promise<void>;
}

async function start(stagingUrl: string): Promise<Harness> {
  const service = await Service.open([loadPipeline(join(dir, 'hooks.yaml'), ENV)], { stagingUrl });
  const app = buildServer(service);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const store = openStore(stagingUrl);
  const probe = stagingUrl.startsWith('sqlite:') ? sqliteProbe(stagingUrl.slice('sqlite:'.length)) : await postgresProbe(stagingUrl);
  return {
    base,
    store,
    probe,
    close: async () => {
      await app.close();
      await service.close();
      await store.close();
      await probe.close();
    },
  };
}

const sqliteUrl = (name: string) => `sqlite:${join(dir, `${name}.db`)}`;

// --- 1. real GitHub deliveries ---------------------------------------------------------------------------------------

interface GithubDelivery {
  file: string;
  event: string;
  delivery: string;
  signature_256: string;
}

const GH_DIR = join(FIXTURES, 'github', 'webhooks');
const GH_DELIVERIES = JSON.parse(readFileSync(join(GH_DIR, 'deliveries.json'), 'utf8')) as GithubDelivery[];

function githubRequest(d: GithubDelivery, body = readFileSync(join(GH_DIR, d.file)), signature = d.signature_256): Request {
  return {
    url: hook('gh'),
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/f2a2ab6',
      'x-github-event': d.event,
      'x-github-delivery': d.delivery,
      'x-github-hook-id': '292430182',
      'x-hub-signature-256': signature,
    },
    body,
  };
}

describe('real GitHub deliveries', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start(sqliteUrl('github'));
  });
  afterAll(() => h.close());

  test('all 12 are staged under their repository owner with their payload; a redelivery changes nothing', async () => {
    expect(GH_DELIVERIES).toHaveLength(12);
    for (const d of GH_DELIVERIES) {
      expect(await send(h.base, githubRequest(d))).toEqual({ status: 200, body: { status: 'staged', id: d.delivery } });
    }

    const payloads = new Map(GH_DELIVERIES.map((d) => [d.delivery, JSON.parse(readFileSync(join(GH_DIR, d.file), 'utf8')) as Record<string, unknown>]));
    const records = await staged(h.store, 'gh');
    expect([...records.keys()].sort()).toEqual([...payloads.keys()].sort());
    for (const [id, payload] of payloads) {
      expect(records.get(id)!.tenant).toBe(at(payload, ['repository', 'owner', 'login']));
      expect(JSON.parse(records.get(id)!.json)).toEqual(payload);
    }
    expect(await h.store.tenants('hooks')).toEqual(['Codertocat', 'Octocoders']);
    expect(await h.probe.deliveryIds('gh')).toEqual([...payloads.keys()].sort());
    expect(await h.probe.counts()).toEqual({ deliveries: 12, records: 12 });

    // GitHub's "Redeliver" sends the same bytes and id again; a sender may also resend the id with other bytes
    const before = await h.probe.snapshot();
    const again = GH_DELIVERIES.find((d) => d.file === 'issues.opened.json')!;
    expect(await send(h.base, githubRequest(again))).toEqual({ status: 200, body: { status: 'duplicate', id: again.delivery } });
    const altered = utf8(JSON.stringify({ ...payloads.get(again.delivery), action: 'deleted' }));
    expect(await send(h.base, githubRequest(again, altered, signGithub(GH_SECRET, altered)))).toEqual({
      status: 200,
      body: { status: 'duplicate', id: again.delivery },
    });
    await Promise.all(GH_DELIVERIES.slice(0, 4).map(async (d) => expect((await send(h.base, githubRequest(d))).body.status).toBe('duplicate')));
    expect(await h.probe.snapshot()).toEqual(before);
    expect(JSON.parse((await staged(h.store, 'gh')).get(again.delivery)!.json)).toEqual(payloads.get(again.delivery));
  });
});

// --- 2. refusals -----------------------------------------------------------------------------------------------------

const ISSUE = readFileSync(join(GH_DIR, 'issues.opened.json'));
const objectBody = (fields: Record<string, unknown>) => utf8(JSON.stringify(fields));
/** A JSON object of exactly `size` bytes that the `signed` source would otherwise accept. */
const paddedObject = (size: number) => utf8(`{"id":1,"org":"acme","pad":"${'x'.repeat(size - 29)}"}`);

interface Refusal {
  name: string;
  request: () => Request;
  status: number | number[];
  error?: string;
  reason?: RegExp;
}

const without = (h: Headers, name: string): Headers => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));

const REFUSALS: Refusal[] = [
  {
    name: 'GitHub delivery without a signature',
    request: () => ({ ...signed('gh', ISSUE), headers: without(signed('gh', ISSUE).headers, 'x-hub-signature-256') }),
    status: 401,
    error: 'unauthorized',
    reason: /missing x-hub-signature-256 header/,
  },
  {
    name: 'GitHub delivery signed with another secret',
    request: () => ({ ...signed('gh', ISSUE), headers: { ...signed('gh', ISSUE).headers, 'x-hub-signature-256': signGithub('not the secret', ISSUE) } }),
    status: 401,
    reason: /no signature matches/,
  },
  {
    name: 'hmac delivery whose signature covers other bytes',
    request: () => ({ ...signed('signed', objectBody({ id: 1, org: 'acme' })), body: objectBody({ id: 1, org: 'evil' }) }),
    status: 401,
    reason: /no signature matches/,
  },
  {
    name: 'Standard Webhooks delivery signed 10 minutes ago',
    request: () => signed('sw', objectBody({ org: 'acme' }), { at: nowSeconds() - 600 }),
    status: 401,
    reason: /too old/,
  },
  {
    name: 'Standard Webhooks delivery dated 10 minutes ahead',
    request: () => signed('sw', objectBody({ org: 'acme' }), { at: nowSeconds() + 600 }),
    status: 401,
    reason: /too new/,
  },
  {
    name: "correctly signed body one byte over the source's maxBodyBytes",
    request: () => signed('signed', paddedObject(4097)),
    status: 413,
    error: 'payload_too_large',
    reason: /4096 bytes/,
  },
  {
    name: "correctly signed body over the server's body limit (Content-Length)",
    request: () => signed('big', paddedObject(2 * 1024 * 1024 + 1)),
    status: 413,
    error: 'payload_too_large',
  },
  {
    name: "Content-Length announcing more than the server's limit",
    request: () => {
      const r = signed('big', objectBody({ org: 'acme' }));
      return { ...r, headers: { ...r.headers, 'content-length': String(64 * 1024 * 1024) } };
    },
    status: 413,
    error: 'payload_too_large',
  },
  {
    name: 'Content-Type text/plain',
    request: () => signed('signed', objectBody({ id: 1, org: 'acme' }), { contentType: 'text/plain' }),
    status: 415,
    reason: /Content-Type/,
  },
  {
    name: 'no Content-Type',
    request: () => {
      const r = signed('signed', objectBody({ id: 1, org: 'acme' }));
      return { ...r, headers: without(r.headers, 'content-type') };
    },
    status: 415,
  },
  {
    name: 'valid signature over invalid UTF-8',
    request: () => signed('signed', Buffer.from([0x7b, 0x22, 0x6f, 0x72, 0x67, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])), // {"org":"\xc3(" }
    status: 400,
    reason: /UTF-8/,
  },
  {
    name: 'valid signature over text that is not JSON',
    request: () => signed('signed', utf8('{"id": 1, "org": "acme",}')),
    status: 400,
    reason: /not JSON/,
  },
  {
    name: 'valid signature over [1,2]',
    request: () => signed('signed', utf8('[1,2]')),
    status: 400,
    reason: /JSON object/,
  },
  {
    name: 'valid signature over an empty body',
    request: () => signed('signed', Buffer.alloc(0)),
    status: 400,
  },
  {
    name: 'valid signature over a body without the key path',
    request: () => signed('signed', objectBody({ org: 'acme', name: 'no id' })),
    status: 422,
    error: 'unprocessable',
    reason: /key at \$\.id/,
  },
  {
    name: 'valid signature over a body whose key is an object',
    request: () => signed('signed', objectBody({ id: { nested: 1 }, org: 'acme' })),
    status: 422,
    reason: /key at \$\.id/,
  },
  {
    name: 'valid signature over a body without the tenant path',
    request: () => signed('sw', objectBody({ organisation: 'acme' })),
    status: 422,
    reason: /tenant at \$\.org/,
  },
  {
    name: 'GitHub delivery without X-GitHub-Delivery',
    request: () => {
      const r = signed('gh', ISSUE);
      return { ...r, headers: without(r.headers, 'x-github-delivery') };
    },
    status: 400,
    reason: /delivery id/,
  },
  {
    name: 'unknown pipeline',
    request: () => ({ ...signed('signed', objectBody({ id: 1, org: 'acme' })), url: hook('signed', 'nope') }),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'unknown source',
    request: () => ({ ...signed('signed', objectBody({ id: 1, org: 'acme' })), url: hook('nope') }),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'GET on a hook route',
    request: () => ({ method: 'GET', url: hook('signed'), headers: {} }),
    status: [404, 405],
  },
];

describe('refusals write nothing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start(sqliteUrl('refusals'));
  });
  afterAll(() => h.close());

  test.each(REFUSALS.map((r) => [r.name, r] as const))('%s', async (_name, r) => {
    const answer = await send(h.base, r.request());
    expect([r.status].flat()).toContain(answer.status);
    expect(answer.body).toEqual({ error: r.error ?? expect.any(String), reason: r.reason ? expect.stringMatching(r.reason) : expect.any(String) });
    expect(await h.probe.counts()).toEqual({ deliveries: 0, records: 0 });
    expect(await h.store.tenants('hooks')).toEqual([]);
    for (const route of ROUTES) expect(await h.probe.deliveryIds(route)).toEqual([]);
  });

  // run last: shows the probes above would have seen a write
  test('control: the same kind of request, correctly made, is staged and seen', async () => {
    const answer = await send(h.base, signed('signed', objectBody({ id: 1, org: 'acme' })));
    expect(answer).toEqual({ status: 200, body: { status: 'staged', id: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) } });
    expect(await h.probe.counts()).toEqual({ deliveries: 1, records: 1 });
    expect(await staged(h.store, 'signed')).toEqual(new Map([['1', { tenant: 'acme', json: '{"id":1,"org":"acme"}' }]]));
  });

  test('the record is the body as sent, every digit kept; line breaks between its tokens become spaces', async () => {
    const body = '{\r\n  "id": "big",\n  "org": "acme",\n  "n": 9007199254740993, "x": 1.50, "s": "a\\nb \\u00e9"\n}\n';
    expect((await send(h.base, signed('signed', utf8(body)))).status).toBe(200);
    const record = (await staged(h.store, 'signed')).get('big')!;
    expect(record.json).toBe('{    "id": "big",   "org": "acme",   "n": 9007199254740993, "x": 1.50, "s": "a\\nb \\u00e9" }');
    expect(JSON.parse(record.json)).toEqual({ id: 'big', org: 'acme', n: 9007199254740993, x: 1.5, s: 'a\nb é' });
  });

  test('keys that are integers past 2^53 keep their digits: two ids JSON.parse reads as one stay two records', async () => {
    for (const id of ['9007199254740993', '9007199254740992']) expect((await send(h.base, signed('signed', utf8(`{"id":${id},"org":"acme"}`)))).status).toBe(200);
    const records = await staged(h.store, 'signed');
    expect(records.get('9007199254740993')?.json).toBe('{"id":9007199254740993,"org":"acme"}');
    expect(records.get('9007199254740992')?.json).toBe('{"id":9007199254740992,"org":"acme"}');
  });
});

// --- 3. fuzzing ------------------------------------------------------------------------------------------------------

const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 120 });
const contentTypes = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/vnd.github+json',
    'application/cloudevents+json; charset=UTF-8',
    'application/jsonp',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    '',
    ';',
    'application/json;;;charset',
    '*/*',
  ),
  { nil: undefined },
);
const fieldValue = fc.oneof(
  fc.string({ minLength: 1, unit: 'binary' }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('', null, true, false),
  fc.jsonValue({ maxDepth: 2 }),
);
const objectText = fc
  .record(
    { org: fieldValue, id: fieldValue, repository: fc.record({ owner: fc.record({ login: fieldValue }) }), extra: fc.jsonValue({ maxDepth: 3 }) },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));
/** Mostly-plausible bodies: random bytes, any JSON, objects with or without a usable key and tenant, and those with a byte changed. */
const bodies = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 * 1024 }).map((b) => Buffer.from(b)), weight: 2 },
  { arbitrary: fc.json().map(utf8), weight: 1 },
  { arbitrary: objectText.map(utf8), weight: 4 },
  {
    arbitrary: fc
      .tuple(objectText.map(utf8), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([b, i, byte]) => Buffer.concat([b.subarray(0, i % b.length), Buffer.from([byte]), b.subarray((i % b.length) + 1)])),
    weight: 2,
  },
);

describe('fuzzing: a 4xx or 200 JSON answer, never a 5xx', () => {
  let h: Harness;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => void unhandled.push(err);
  beforeAll(async () => {
    h = await start(sqliteUrl('fuzz'));
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await h.close();
  });

  test('random bytes, content types and signature headers: unsigned requests are always refused with a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<string>(...ROUTES, 'nope'),
        contentTypes,
        fc.dictionary(
          fc.constantFrom('x-signature', 'x-hub-signature-256', 'x-hub-signature', 'x-github-delivery', 'webhook-id', 'webhook-timestamp', 'webhook-signature'),
          fc.oneof(headerText, headerText.map((t) => `sha256=${t}`), headerText.map((t) => `v1,${t}`), fc.array(headerText, { minLength: 2, maxLength: 3 })),
        ),
        fc.uint8Array({ maxLength: 64 * 1024 }),
        async (route, contentType, headers, body) => {
          const answer = await send(h.base, { url: hook(route), headers: contentType === undefined ? headers : { ...headers, 'content-type': contentType }, body: Buffer.from(body) });
          expectWellFormed(answer);
          expect(answer.status).not.toBe(200); // nobody without the secret gets anything staged
        },
      ),
      { numRuns: 60 },
    );
    expect(await h.probe.counts()).toEqual({ deliveries: 0, records: 0 });
  });

  test('correctly signed random bodies: 413 over the limit, 400 unless a JSON object, then 200 or 422 by its key and tenant', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), bodies, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/webhook+json'), async (route, body, type) => {
        const answer = await send(h.base, signed(route, body, { contentType: type }));
        expectWellFormed(answer);
        const object = jsonObject(body);
        if (body.length > LIMIT[route]) return expect(answer.status).toBe(413);
        if (!object) return expect(answer.status).toBe(400);
        const fields = [usability(at(object, TENANT_AT[route])), ...(KEY_AT[route] ? [usability(at(object, KEY_AT[route]))] : [])];
        if (fields.includes('unusable')) return expect(answer.status).toBe(422);
        if (fields.every((f) => f === 'usable')) expect(answer.status).toBe(200);
        if (answer.status !== 200) return expect(answer.status).toBe(422);
        if (answer.body.status === 'staged') {
          const key = KEY_AT[route] ? String(at(object, KEY_AT[route])) : String(answer.body.id);
          const tenant = String(at(object, TENANT_AT[route]));
          const record = (await staged(h.store, route, [tenant])).get(key);
          // the record is the body's own text: read the same way, it is the same value (a number past a
          // double's range included: the text keeps its digits, and both reads make it Infinity)
          expect(record && JSON.parse(record.json)).toEqual(object);
        }
      }),
      { numRuns: 80 },
    );
  });

  test('deeply nested JSON and huge strings', async () => {
    const depth = 10_000;
    const deepArray = utf8('['.repeat(depth) + ']'.repeat(depth));
    const deepObject = utf8('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
    const deeper = utf8('['.repeat(500_000) + ']'.repeat(500_000)); // 1 MB: fits only the big source
    const cases: [Request, number][] = [
      [signed('big', deepArray), 400],
      [signed('signed', deepArray), 413], // 20 KB over its 4 KB limit
      [signed('gh', deepArray), 400],
      [signed('sw', deepArray), 400],
      [signed('big', deeper), 400],
      [{ ...signed('big', deeper), body: Buffer.concat([deeper.subarray(0, -1), utf8('}')]) }, 401],
      [signed('sw', deepObject), 422], // no tenant
      [signed('big', utf8(`{"org":"acme","a":${'['.repeat(depth)}`)), 400], // unterminated
      [signed('signed', utf8(`{"id":1,"org":"acme","s":"${'x'.repeat(900 * 1024)}"}`)), 413],
    ];
    for (const [req, status] of cases) {
      const answer = await send(h.base, req);
      expectWellFormed(answer);
      expect(answer.status).toBe(status);
    }

    // a 900 KB string inside JSON (with multi-byte characters and escapes) is staged whole where the limit allows it
    const huge = `${'é中🙂"\\\n'.repeat((900 * 1024) / 15)}${'x'.repeat(1000)}`; // 15 bytes a repeat once escaped: ~900 KB
    for (const route of ['big', 'sw', 'gh'] as const) {
      const payload = { org: `huge-${route}`, repository: { owner: { login: `huge-${route}` } }, s: huge };
      const answer = await send(h.base, signed(route, utf8(JSON.stringify(payload))));
      expect(answer).toEqual({ status: 200, body: { status: 'staged', id: expect.any(String) } });
      const record = (await staged(h.store, route, [`huge-${route}`])).get(String(answer.body.id));
      expect(JSON.parse(record!.json)).toEqual(payload);
    }
  });

  // JSON.parse accepts nesting that JSON.stringify cannot write back: that is a 400, not a crash.
  test('a valid object carrying 10,000 nested arrays is answered with a 4xx or 200, not a 500', async () => {
    const depth = 10_000;
    for (const route of ['big', 'sw'] as const) {
      const answer = await send(h.base, signed(route, utf8(`{"org":"acme","a":${'['.repeat(depth)}${']'.repeat(depth)}}`)));
      expectWellFormed(answer);
    }
  });

  test('afterwards /health still answers 200 and nothing went unhandled', async () => {
    const health = await send(h.base, { method: 'GET', url: '/health', headers: {} });
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', stores: [{ ok: true }] } });
    expect(unhandled).toEqual([]);
  });
});

// --- 4. each delivery id staged exactly once, on each backend ---------------------------------------------------------

const backends = stagingBackends(() => dir, 'idempotent intake');

/** Splits `items` into consecutive chunks whose sizes cycle through `sizes`. */
function chunked<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const out: T[][] = [];
  for (let i = 0, s = 0; i < items.length; s++) {
    const n = sizes[s % sizes.length]!;
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

describe.each(backends)('idempotent intake, %s staging', (_name, make) => {
  let h: Harness;
  let done: () => Promise<void>;
  let round = 0;
  beforeAll(async () => {
    const b = await make();
    done = b.done;
    h = await start(b.url);
  });
  afterAll(async () => {
    await h.close();
    await done();
  });

  test('any sequence of deliveries, repeats and concurrent copies included: each id is staged exactly once, by its first arrival', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
        async (sequence, sizes) => {
          // each run has its own ids and tenant, so runs share one store without seeing each other
          round += 1;
          const tenant = `t${round}`;
          const copies = sequence.map((id, copy) => ({ id: `r${round}-${id}`, copy }));
          const results: { id: string; copy: number; chunk: number; status: unknown }[] = [];
          for (const [chunk, group] of chunked(copies, sizes).entries()) {
            const answers = await Promise.all(group.map((c) => send(h.base, signed('sw', objectBody({ org: tenant, copy: c.copy }), { id: c.id }))));
            answers.forEach((a, i) => {
              expect(a).toEqual({ status: 200, body: { status: expect.any(String), id: group[i]!.id } });
              results.push({ ...group[i]!, chunk, status: a.body.status });
            });
          }

          const ids = [...new Set(copies.map((c) => c.id))].sort();
          const winners = new Map<string, number>();
          for (const id of ids) {
            const mine = results.filter((r) => r.id === id);
            const first = mine[0]!.chunk; // the first chunk that carried this id
            const stagedCopies = mine.filter((r) => r.status === 'staged');
            expect(stagedCopies).toHaveLength(1);
            expect(stagedCopies[0]!.chunk).toBe(first);
            expect(mine.filter((r) => r.status !== 'staged').every((r) => r.status === 'duplicate')).toBe(true);
            winners.set(id, stagedCopies[0]!.copy);
          }

          expect((await h.probe.deliveryIds('sw')).filter((id) => id.startsWith(`r${round}-`))).toEqual(ids);
          const records = await staged(h.store, 'sw', [tenant]);
          expect([...records.keys()].sort()).toEqual(ids);
          for (const [id, copy] of winners) expect(JSON.parse(records.get(id)!.json)).toEqual({ org: tenant, copy });
        },
      ),
      { numRuns: 25 },
    );
  });

  // PostgreSQL text cannot hold U+0000: a tenant holding it is refused alone, not with its whole group.
  test('a tenant holding U+0000 is refused and does not fail the deliveries committed with it', async () => {
    const good = ['nul-ok-1', 'nul-ok-2'];
    const answers = await Promise.all([
      send(h.base, signed('sw', objectBody({ org: 'nul-ok' }), { id: good[0] })),
      send(h.base, signed('sw', objectBody({ org: 'nul\u0000tenant' }), { id: 'nul-bad' })),
      send(h.base, signed('sw', objectBody({ org: 'nul-ok' }), { id: good[1] })),
    ]);
    answers.forEach(expectWellFormed);
    expect(answers[1]).toMatchObject({ status: 422, body: { reason: expect.stringContaining("U+0000") } });
    expect([answers[0]!.body.status, answers[2]!.body.status]).toEqual(['staged', 'staged']);
    expect([...(await staged(h.store, 'sw', ['nul-ok'])).keys()].sort()).toEqual(good);
  });
});

// --- 5. group commit under concurrency, over a real socket -----------------------------------------------------------

describe('group commit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start(sqliteUrl('group-commit'));
  });
  afterAll(() => h.close());

  test('200 concurrent signed deliveries with distinct ids are all staged, in far fewer transactions', async () => {
    const intake = jest.spyOn(SqliteStore.prototype, 'intake');
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `gc-${i}`);
      const answers = await Promise.all(
        ids.map(async (id, i) => {
          return send(h.base, signed('sw', objectBody({ org: 'group', n: i }), { id }));
        }),
      );
      expect(answers).toEqual(ids.map((id) => ({ status: 200, body: { status: 'staged', id } })));
      const records = await staged(h.store, 'sw', ['group']);
      expect([...records.keys()].sort()).toEqual([...ids].sort());
      ids.forEach((id, i) => expect(JSON.parse(records.get(id)!.json)).toEqual({ org: 'group', n: i }));
      expect(await h.probe.counts()).toEqual({ deliveries: 200, records: 200 });
      expect(intake.mock.calls.length).toBeLessThan(100);
      expect(intake.mock.calls.reduce((n, [, deliveries]) => n + deliveries.length, 0)).toBe(200);
    } finally {
      intake.mockRestore();
    }
  });
});
