// Data-source connections over the API: the URL (with its credentials) is sealed with AES-256-GCM at rest
// and never shown again — not in answers, not in the store's file, not in the audit log, not in a failed
// test's reason; tenants see only their own; keys rotate by key id.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SecretBox } from '../../../src/core/secret-box';
import { createApiToken } from '../../../src/run/api-tokens';
import { rotateConnections, saveConnection } from '../../../src/run/connections';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import { isUp } from '../../helpers/services';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const PASSWORD = 'pa55-w0rd-Zq9';

test('property: what is sealed opens to itself; every seal differs; a changed byte or another key does not open', () => {
  const box = SecretBox.fromEnv(K1);
  const other = SecretBox.fromEnv(`k1:${K2}`);
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (plain) => {
      const a = box.seal(plain);
      expect(box.open(a)).toBe(plain);
      expect(box.seal(plain)).not.toBe(a);
      const parts = a.split(':');
      const body = Buffer.from(parts[4]!, 'base64url');
      if (body.length > 0) {
        body[0] ^= 1;
        expect(() => box.open([...parts.slice(0, 4), body.toString('base64url')].join(':'))).toThrow(/does not open/);
      }
      expect(() => other.open(a)).toThrow(/does not open/);
    }),
  );
  expect(() => SecretBox.fromEnv(undefined)).toThrow(/SLUICE_SECRET_KEY is not set/);
  expect(() => SecretBox.fromEnv('c2hvcnQ=')).toThrow(/must be 32 bytes/);
});

describe('the /api/v1/sources routes', () => {
  let dir: string;
  let base: string;
  let close: () => Promise<void>;
  let admin: string;
  let acme: string;
  let globex: string;
  const env: Record<string, string> = { SLUICE_SECRET_KEY: `k1:${K1}` };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-sources-api-'));
    writeFileSync(join(dir, 'p.yaml'), `name: shop\nsources:\n  - name: items\n    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }\ntenant: { value: acme }\nstaging: sqlite:${join(dir, 'staging.db')}\n`);
    const service = await Service.open([loadPipeline(join(dir, 'p.yaml'), {})], { alertIntervalMs: 0, env });
    const store = service.primaryStore;
    admin = (await createApiToken(store, { name: 'ops', tenant: null, actor: 'test' })).token;
    acme = (await createApiToken(store, { name: 'a', tenant: 'acme', actor: 'test' })).token;
    globex = (await createApiToken(store, { name: 'g', tenant: 'globex', actor: 'test' })).token;
    const app = buildServer(service);
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    close = async () => {
      await app.close();
      await service.close();
    };
  });
  afterAll(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  test('made, shown masked, tested, changed, removed; never the password anywhere', async () => {
    const url = `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test`;
    const made = await call('POST', '/api/v1/sources', acme, { name: 'warehouse', kind: 'postgres', url });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ tenant: 'acme', name: 'warehouse', kind: 'postgres', url: 'postgres://postgres:***@127.0.0.1:5432/test' });
    const id = made.body.id as string;
    expect((await call('POST', '/api/v1/sources', acme, { name: 'warehouse', kind: 'postgres', url })).status).toBe(409);
    expect((await call('POST', '/api/v1/sources', acme, { name: 'x', kind: 'oracle', url })).status).toBe(400);
    expect((await call('POST', '/api/v1/sources', admin, { name: 'x', kind: 'http', url: 'https://x.test' })).body.reason).toMatch(/^tenant:/);

    const list = await call('GET', '/api/v1/sources', acme);
    expect(list.text).not.toContain(PASSWORD);
    expect((list.body.sources as unknown[]).length).toBe(1);
    expect((await call('GET', '/api/v1/sources', globex)).body.sources).toEqual([]);
    expect((await call('GET', `/api/v1/sources/${id}`, globex)).status).toBe(404);
    expect((await call('DELETE', `/api/v1/sources/${id}`, globex)).status).toBe(404);
    expect((await call('GET', `/api/v1/sources/${id}`, admin)).status).toBe(200);

    if (isUp('postgres')) expect((await call('POST', `/api/v1/sources/${id}/test`, acme)).body).toMatchObject({ ok: true });
    const broken = await call('POST', '/api/v1/sources', acme, { name: 'broken', kind: 'postgres', url: `postgres://postgres:${PASSWORD}@127.0.0.1:1/test` });
    const tested = await call('POST', `/api/v1/sources/${broken.body.id as string}/test`, acme);
    expect(tested.body).toMatchObject({ ok: false, error: expect.any(String) });
    expect(tested.text).not.toContain(PASSWORD);

    const renamed = await call('PATCH', `/api/v1/sources/${id}`, acme, { name: 'dwh' });
    expect(renamed.body).toMatchObject({ name: 'dwh', url: 'postgres://postgres:***@127.0.0.1:5432/test' });
    expect((await call('DELETE', `/api/v1/sources/${id}`, acme)).status).toBe(204);
    expect((await call('GET', `/api/v1/sources/${id}`, acme)).status).toBe(404);

    expect(readFileSync(join(dir, 'staging.db')).includes(Buffer.from(PASSWORD))).toBe(false);
    const audit = await call('GET', '/api/v1/audit?action=credentials.', admin);
    expect((audit.body.entries as { action: string }[]).map((e) => e.action).sort()).toEqual(['credentials.created', 'credentials.created', 'credentials.deleted', 'credentials.updated']);
    expect(audit.text).not.toContain(PASSWORD);
  });

  test('without SLUICE_SECRET_KEY the routes say so (503), and nothing is stored', async () => {
    delete env.SLUICE_SECRET_KEY;
    try {
      const r = await call('POST', '/api/v1/sources', acme, { name: 'n', kind: 'http', url: 'https://x.test/?token=abc123' });
      expect(r).toMatchObject({ status: 503, body: { reason: expect.stringMatching(/SLUICE_SECRET_KEY is not set/) } });
    } finally {
      env.SLUICE_SECRET_KEY = `k1:${K1}`;
    }
  });
});

test('keys rotate: sealed again with the new key, still opening while the old one is listed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-rotate-'));
  const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
  try {
    await store.migrate();
    const old = SecretBox.fromEnv(`k1:${K1}`);
    const c = await saveConnection(store, old, { tenant: 'acme', name: 'api', kind: 'http', url: 'https://api.test/?token=s3cr3t' }, 'test');
    expect(c.shownUrl).toBe('https://api.test/?token=***');
    const both = SecretBox.fromEnv(`k2:${K2},k1:${K1}`);
    expect(await rotateConnections(store, both, 'test')).toBe(1);
    const [after] = await store.connections('acme');
    expect(SecretBox.keyOf(after!.sealedUrl)).toBe('k2');
    expect(SecretBox.fromEnv(`k2:${K2}`).open(after!.sealedUrl)).toBe('https://api.test/?token=s3cr3t');
    expect(() => old.open(after!.sealedUrl)).toThrow(/key "k2"/);
    expect(await rotateConnections(store, both, 'test')).toBe(0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
