// The REST API's tenant isolation: for random records over random tenants, a tenant's token never gets
// another tenant's key, export, quarantined record or count — its own things come back whole, another
// tenant's export id is a 404 — and tokens that are missing, wrong, malformed or revoked get 401.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { createApiToken, revokeApiToken } from '../../../src/run/api-tokens';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline } from '../../../src/run/run';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';

const TENANTS = ['acme', 'globex', 'initech', 'Zoë & Co'];
const row = fc.record({ tenant: fc.constantFrom(...TENANTS), amount: fc.integer({ min: -5, max: 100 }) });

interface World {
  base: string;
  stagingUrl: string;
  tokens: Map<string, string>;
  admin: string;
  /** tenant → keys it holds; keys with a negative amount are quarantined */
  keys: Map<string, Set<string>>;
  close(): Promise<void>;
}

async function world(rows: { tenant: string; amount: number }[], apiRate?: { perSecond: number; burst: number }): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-api-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT, amount INTEGER)`);
  const insert = db.prepare(`INSERT INTO orders VALUES (?, ?, ?)`);
  rows.forEach((r, i) => insert.run(i + 1, r.tenant, r.amount));
  db.close();
  writeFileSync(
    join(dir, 'p.yaml'),
    `name: shop
sources:
  - name: orders
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: orders, key: id }
tenant: { column: tenant }
refine:
  - rules:
      - validate: { amount: { min: 0 } }
export:
  - format: jsonl
    path: ${join(dir, 'out')}
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  const pipeline = loadPipeline(join(dir, 'p.yaml'), {});
  await runPipeline(pipeline, {});
  const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
  const tokens = new Map<string, string>();
  let admin: string;
  try {
    for (const t of TENANTS) tokens.set(t, (await createApiToken(store, { name: t, tenant: t, actor: 'test' })).token);
    admin = (await createApiToken(store, { name: 'ops', tenant: null, actor: 'test' })).token;
  } finally {
    await store.close();
  }
  const keys = new Map(TENANTS.map((t) => [t, new Set(rows.flatMap((r, i) => (r.tenant === t ? [String(i + 1)] : [])))]));
  const service = await Service.open([pipeline], { alertIntervalMs: 0, apiRate });
  const app = buildServer(service);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    stagingUrl: `sqlite:${join(dir, 'staging.db')}`,
    tokens,
    admin,
    keys,
    close: async () => {
      await app.close();
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const get = async (w: World, path: string, token?: string) => {
  const res = await fetch(`${w.base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

test('property: a tenant token never sees another tenant\'s data, and sees all of its own', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 30 }), async (rows) => {
      const w = await world(rows);
      try {
        const exportIds = new Map<string, string[]>();
        for (const t of TENANTS) {
          const token = w.tokens.get(t)!;
          const own = w.keys.get(t)!;
          const exports = await get(w, '/api/v1/pipelines/shop/exports?tenant=someone-else', token);
          expect(exports.status).toBe(200);
          expect(exports.body.tenant).toBe(t); // the token's tenant wins over the parameter
          exportIds.set(t, (exports.body.exports as { id: string }[]).map((e) => e.id));
          expect(exportIds.get(t)!.length).toBe(own.size > 0 ? 1 : 0);

          const held = await get(w, '/api/v1/pipelines/shop/quarantine', token);
          const heldKeys = (held.body.records as { key: string }[]).map((r) => r.key);
          expect(heldKeys.filter((k) => !own.has(k))).toEqual([]);
          expect(heldKeys.sort()).toEqual([...own].filter((k) => rows[Number(k) - 1]!.amount < 0).sort());

          const summary = await get(w, '/api/v1/pipelines/shop/summary', token);
          const records = (summary.body.sources as { records: number }[]).reduce((n, s) => n + s.records, 0);
          expect(records).toBe(own.size);

          const audit = await get(w, '/api/v1/audit', token);
          expect((audit.body.entries as { tenant: string | null }[]).every((e) => e.tenant === t)).toBe(true);
        }
        // an export id is one run's for every tenant: asked for with another tenant's token it is that
        // tenant's own export of the run, or a 404 — never the first tenant's manifest
        for (const [t, ids] of exportIds) {
          for (const other of TENANTS.filter((x) => x !== t)) {
            for (const id of ids) {
              const r = await get(w, `/api/v1/pipelines/shop/exports/${id}/manifest`, w.tokens.get(other)!);
              if (r.status === 200) expect(r.body.tenant).toBe(other);
              else expect(r.status).toBe(404);
              expect(r.status === 200).toBe(exportIds.get(other)!.includes(id));
            }
          }
          for (const id of ids) expect((await get(w, `/api/v1/pipelines/shop/exports/${id}/manifest`, w.tokens.get(t)!)).body).toMatchObject({ tenant: t });
        }
      } finally {
        await w.close();
      }
    }),
    { numRuns: 6 },
  );
}, 120_000);

test('tokens: missing, wrong, malformed and revoked get 401; a tenant token cannot reach admin routes; admin names the tenant', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }]);
  try {
    expect((await get(w, '/api/v1/pipelines')).status).toBe(401);
    expect((await get(w, '/api/v1/pipelines', 'slc_tok_000000000000_' + 'x'.repeat(43))).status).toBe(401);
    expect((await get(w, '/api/v1/pipelines', 'not a token')).status).toBe(401);
    expect((await get(w, '/api/v1/pipelines', w.tokens.get('acme')!)).body).toMatchObject({ pipelines: [{ name: 'shop', refines: true }] });
    expect((await get(w, '/api/v1/alerts', w.tokens.get('acme')!)).status).toBe(403);
    expect((await get(w, '/api/v1/alerts', w.admin)).status).toBe(200);
    expect((await get(w, '/api/v1/pipelines/shop/exports', w.admin)).status).toBe(400);
    expect((await get(w, '/api/v1/pipelines/shop/exports?tenant=acme', w.admin)).body).toMatchObject({ tenant: 'acme' });
    expect((await get(w, '/api/v1/pipelines/nope/exports', w.admin)).status).toBe(404);
  } finally {
    await w.close();
  }
});

test('a revoked token stops working at once', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }]);
  try {
    const token = w.tokens.get('acme')!;
    expect((await get(w, '/api/v1/pipelines', token)).status).toBe(200);
    const store = openStore(w.stagingUrl);
    try {
      expect(await revokeApiToken(store, /^slc_(tok_[0-9a-f]{12})_/.exec(token)![1]!, 'test')).toBe(true);
      expect((await store.apiTokens()).find((t) => t.tenant === 'acme')!.revokedAt).not.toBeNull();
    } finally {
      await store.close();
    }
    expect((await get(w, '/api/v1/pipelines', token)).status).toBe(401);
  } finally {
    await w.close();
  }
});

test('runs over the API: 202 with the run id, then its counts; bad bodies are 400 with the field; checkpoints reset and audited', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }, { tenant: 'globex', amount: 2 }]);
  const post = async (path: string, body: string, token = w.admin) => {
    const res = await fetch(`${w.base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, location: res.headers.get('location') };
  };
  try {
    expect((await post('/api/v1/pipelines/shop/runs', '{}', w.tokens.get('acme')!)).status).toBe(404); // shop is every tenant's: a tenant token cannot run it
    expect(await post('/api/v1/pipelines/shop/runs', '{"full": "yes"}')).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/^full: .*boolean/) } });
    expect(await post('/api/v1/pipelines/shop/runs', '{"fast": true}')).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/fast/) } });
    expect(await post('/api/v1/pipelines/shop/runs', '{"full": tru')).toMatchObject({ status: 400, body: { reason: expect.stringMatching(/^the body is not JSON/) } });
    expect((await post('/api/v1/pipelines/nope/runs', '{}')).status).toBe(404);

    const started = await post('/api/v1/pipelines/shop/runs', '{"full": true}');
    expect(started).toMatchObject({ status: 202, body: { run: expect.any(String), status: 'running' } });
    const id = started.body.run as string;
    expect(started.location).toBe(`/api/v1/runs/${id}`);
    let run: Record<string, unknown> = {};
    for (let i = 0; i < 100 && run.status !== 'succeeded'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      run = (await get(w, `/api/v1/runs/${id}`, w.admin)).body;
    }
    expect(run).toMatchObject({ id, pipeline: 'shop', status: 'succeeded' });
    expect(((await get(w, '/api/v1/pipelines/shop/runs', w.admin)).body.runs as { id: string }[])[0]!.id).toBe(id);
    expect((await post(`/api/v1/runs/${id}/cancel`, '')).status).toBe(409);
    expect((await post('/api/v1/runs/nope/cancel', '')).status).toBe(404);
    expect((await get(w, '/api/v1/runs/nope', w.admin)).status).toBe(404);

    const checkpoints = (await get(w, '/api/v1/pipelines/shop/checkpoints', w.admin)).body.checkpoints as { source: string; checkpoint: unknown }[];
    expect(checkpoints).toEqual([{ source: 'orders', checkpoint: expect.objectContaining({ mode: 'full' }), highWater: expect.any(Number) }]);
    const reset = await fetch(`${w.base}/api/v1/pipelines/shop/sources/orders/checkpoint`, { method: 'DELETE', headers: { authorization: `Bearer ${w.admin}` } });
    expect(reset.status).toBe(200);
    expect(((await get(w, '/api/v1/pipelines/shop/checkpoints', w.admin)).body.checkpoints as { checkpoint: unknown }[])[0]!.checkpoint).toBeNull();
    const audit = (await get(w, '/api/v1/audit?action=checkpoint.', w.admin)).body.entries as { actor: string; detail: { source: string } }[];
    expect(audit).toEqual([expect.objectContaining({ actor: expect.stringMatching(/^tok_/), detail: expect.objectContaining({ source: 'orders' }) })]);
  } finally {
    await w.close();
  }
});

test('each token has its own request rate: past its burst, 429 with Retry-After; other tokens go on', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }], { perSecond: 1, burst: 3 });
  try {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${w.base}/api/v1/pipelines`, { headers: { authorization: `Bearer ${w.tokens.get('acme')!}` } });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await get(w, '/api/v1/pipelines', w.tokens.get('globex')!)).status).toBe(200);
  } finally {
    await w.close();
  }
});

test('GET /api/v1/openapi.json (no token needed) describes exactly the API routes there are', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-openapi-'));
  writeFileSync(join(dir, 'p.yaml'), `name: shop\nsources:\n  - name: items\n    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }\ntenant: { value: acme }\nstaging: sqlite:${join(dir, 'staging.db')}\n`);
  const service = await Service.open([loadPipeline(join(dir, 'p.yaml'), {})], { alertIntervalMs: 0 });
  const app = buildServer(service);
  try {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual([...app.apiRoutes].sort());
    expect(doc.paths['/api/v1/pipelines/{pipeline}/runs']!.post!.responses).toHaveProperty('202');
  } finally {
    await app.close();
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input gets a clear 4xx and changes nothing: expired tokens, oversized bodies, SQL-ish text everywhere', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }]);
  try {
    const store = openStore(w.stagingUrl);
    let expired: string;
    try {
      expired = (await createApiToken(store, { name: 'old', tenant: 'acme', actor: 'test', expiresInSeconds: -1 })).token;
    } finally {
      await store.close();
    }
    expect((await get(w, '/api/v1/pipelines', expired)).status).toBe(401);

    const big = await fetch(`${w.base}/api/v1/pipelines/shop/runs`, { method: 'POST', headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ full: true, pad: 'x'.repeat(100_000) }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { reason: string }).reason).toMatch(/limit of 65536 bytes/);

    const hostile = ["' OR 1=1 --", 'x"; DROP TABLE sluice_records; --', '%27%20OR%201%3D1', '../../etc/passwd', '\u0000', 'Robert\'); DELETE FROM sluice_runs;--'];
    for (const text of hostile) {
      const q = encodeURIComponent(text);
      for (const path of [`/api/v1/pipelines/${q}/exports`, `/api/v1/pipelines/shop/exports/${q}/manifest`, `/api/v1/runs/${q}`, `/api/v1/pipelines/shop/quarantine?source=${q}`, `/api/v1/audit?action=${q}`, `/api/v1/audit?pipeline=${q}`]) {
        for (const token of [w.tokens.get('acme')!, w.admin]) {
          const r = await get(w, path.includes('exports') && token === w.admin ? `${path}${path.includes('?') ? '&' : '?'}tenant=${q}` : path, token);
          expect({ path, status: r.status < 500 }).toEqual({ path, status: true });
        }
      }
    }
    // nothing changed: the records, the runs and the tokens are all still there
    const summary = await get(w, '/api/v1/pipelines/shop/summary', w.tokens.get('acme')!);
    expect((summary.body.sources as { records: number }[])[0]!.records).toBe(1);
    expect(((await get(w, '/api/v1/pipelines/shop/runs', w.admin)).body.runs as unknown[]).length).toBe(1);
  } finally {
    await w.close();
  }
});

test('refusals in the caller\'s language: Accept-Language zh-CN, including the schema\'s own messages', async () => {
  const w = await world([{ tenant: 'acme', amount: 1 }]);
  try {
    const zh = { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' };
    const unauthorized = await fetch(`${w.base}/api/v1/pipelines`, { headers: zh });
    expect(await unauthorized.json()).toEqual({ error: 'unauthorized', reason: '需要有效的 Bearer 令牌' });
    const missing = await fetch(`${w.base}/api/v1/pipelines/nope/exports`, { headers: { ...zh, authorization: `Bearer ${w.tokens.get('acme')!}` } });
    expect(await missing.json()).toEqual({ error: 'not_found', reason: '不存在：流水线 nope' });
    const bad = await fetch(`${w.base}/api/v1/pipelines/shop/runs`, { method: 'POST', headers: { ...zh, authorization: `Bearer ${w.admin}` }, body: '{"full": "yes"}' });
    expect(((await bad.json()) as { reason: string }).reason).toMatch(/^full：无效输入/);
    const english = await fetch(`${w.base}/api/v1/pipelines`, { headers: { 'accept-language': 'en-GB' } });
    expect(((await english.json()) as { reason: string }).reason).toBe('a valid bearer token is needed');
  } finally {
    await w.close();
  }
});
