// Runs per tenant: a tenant's token may run only pipelines wholly its own (another tenant's, or a
// pipeline of many tenants, is a 404); each tenant has SLUICE_TENANT_RUNS run slots across its pipelines,
// and runs past them queue, then run; a queued run can be cancelled.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createApiToken } from '../../../src/run/api-tokens';
import { loadPipeline, ownerOf } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-tenant-runs-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, tenant TEXT)`);
  const insert = db.prepare(`INSERT INTO items VALUES (?, ?)`);
  for (let i = 1; i <= 2000; i++) insert.run(i, i % 2 ? 'acme' : 'globex');
  db.close();
  const file = (name: string, tenant: string) =>
    writeFileSync(
      join(dir, `${name}.yaml`),
      `name: ${name}\nsources:\n  - name: items\n    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id, batchSize: 100 }\ntenant: ${tenant}\nexport:\n  - format: jsonl\n    path: ${join(dir, 'out')}\nstaging: sqlite:${join(dir, 'staging.db')}\n`,
    );
  file('acme_a', '{ value: acme }');
  file('acme_b', '{ value: acme }');
  file('globex_a', '{ value: globex }');
  file('everyone', '{ column: tenant }');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('ownerOf: the one fixed tenant of every source, else none', () => {
  expect(ownerOf(loadPipeline(join(dir, 'acme_a.yaml'), {}))).toBe('acme');
  expect(ownerOf(loadPipeline(join(dir, 'everyone.yaml'), {}))).toBeNull();
});

test('a tenant runs its own pipelines only, one at a time by default; the rest queue, then run', async () => {
  const pipelines = ['acme_a', 'acme_b', 'globex_a', 'everyone'].map((n) => loadPipeline(join(dir, `${n}.yaml`), {}));
  const service = await Service.open(pipelines, { alertIntervalMs: 0, env: {} });
  const acme = (await createApiToken(service.primaryStore, { name: 'a', tenant: 'acme', actor: 'test' })).token;
  const app = buildServer(service);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = async (path: string) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${acme}` } });
    return { status: res.status, body: (await res.json()) as { run?: string; status?: string } };
  };
  const get = async (path: string) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${acme}` } })).json() as Promise<Record<string, unknown>>;
  try {
    expect((await post('/api/v1/pipelines/globex_a/runs')).status).toBe(404);
    expect((await post('/api/v1/pipelines/everyone/runs')).status).toBe(404);
    const first = await post('/api/v1/pipelines/acme_a/runs');
    const second = await post('/api/v1/pipelines/acme_b/runs');
    const third = await post('/api/v1/pipelines/acme_a/runs');
    expect([first.status, first.body.status]).toEqual([202, 'running']);
    expect([second.status, second.body.status]).toEqual([202, 'queued']); // acme's one slot is taken
    expect([third.status, third.body.status]).toEqual([202, 'queued']);
    expect((await post(`/api/v1/runs/${third.body.run!}/cancel`)).status).toBe(202);
    const done = async (id: string) => {
      for (let i = 0; i < 200; i++) {
        const run = await get(`/api/v1/runs/${id}`);
        if (run.status === 'succeeded' || run.status === 'cancelled' || run.status === 'failed') return run;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`run ${id} did not finish`);
    };
    const [a, b] = [await done(first.body.run!), await done(second.body.run!)];
    expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);
    // acme's runs never overlapped: the queued one started after the first finished
    expect(Date.parse(String(b.startedAt))).toBeGreaterThanOrEqual(Date.parse(String(a.finishedAt)));
    expect((await get(`/api/v1/runs/${third.body.run!}`)).status).toBe('cancelled');
  } finally {
    await app.close();
    await service.close();
  }
}, 60_000);
