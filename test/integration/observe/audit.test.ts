// The audit log: runs (by whom), exports published per tenant and quarantine releases are appended as
// they happen; `sluice audit` and GET /api/v1/audit read them newest first, filtered by tenant, time and
// action; `sluice serve` removes entries older than the retention.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import { expectExit, sluice } from '../../helpers/cli-sluice';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, tenant TEXT)`);
  db.prepare(`INSERT INTO items VALUES (1, 'acme'), (2, 'globex')`).run();
  db.close();
  writeFileSync(
    join(dir, 'p.yaml'),
    `name: shop
sources:
  - name: items
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: items, key: id }
tenant: { column: tenant }
export:
  - format: jsonl
    path: out
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('runs and exports are audited; sluice audit and the API read them back, newest first', async () => {
  expectExit(await sluice(['run', 'p.yaml'], { cwd: dir }), 0);
  const all = JSON.parse((await sluice(['audit', 'p.yaml', '--json'], { cwd: dir })).stdout) as { actor: string; action: string; tenant: string | null }[];
  expect(all.map((a) => [a.actor, a.action, a.tenant])).toEqual([
    ['cli', 'run.succeeded', null],
    ['cli', 'export.published', 'globex'],
    ['cli', 'export.published', 'acme'],
  ]);
  const acme = JSON.parse((await sluice(['audit', 'p.yaml', '--tenant', 'acme', '--json'], { cwd: dir })).stdout) as unknown[];
  expect(acme).toHaveLength(1);
  const future = JSON.parse((await sluice(['audit', 'p.yaml', '--since', '2999-01-01T00:00:00Z', '--json'], { cwd: dir })).stdout) as unknown[];
  expect(future).toEqual([]);
  expect((await sluice(['audit', 'p.yaml'], { cwd: dir })).stdout).toMatch(/run\.succeeded/);

  const service = await Service.open([loadPipeline(join(dir, 'p.yaml'), {})], { adminToken: 'admin-1' });
  const app = buildServer(service);
  try {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const get = (q: string) => fetch(`${base}/api/v1/audit${q}`, { headers: { authorization: 'Bearer admin-1' } });
    const body = (await (await get('?action=export.&limit=1')).json()) as { entries: { action: string }[] };
    expect(body.entries.map((e) => e.action)).toEqual(['export.published']);
    expect((await get('?limit=0')).status).toBe(400);
    expect((await get('?since=yesterday')).status).toBe(400);
    expect((await fetch(`${base}/api/v1/audit`)).status).toBe(401);
  } finally {
    await app.close();
    await service.close();
  }
});

test('sluice serve keeps the audit log to its retention', async () => {
  expectExit(await sluice(['run', 'p.yaml'], { cwd: dir }), 0);
  const service = await Service.open([loadPipeline(join(dir, 'p.yaml'), {})], { env: { SLUICE_AUDIT_RETENTION: '0s' } });
  await service.close();
  const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
  try {
    expect(await store.audit({ limit: 10 })).toEqual([]);
  } finally {
    await store.close();
  }
});
