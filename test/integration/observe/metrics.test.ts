// Prometheus metrics: a one-shot `sluice run --metrics-file` writes what the run did (records read,
// staged and exported per tenant, the run's outcome and duration, commit latency, checkpoint lag) in the
// textfile format that `promtool check metrics` accepts, failed runs included; `sluice serve` answers
// GET /metrics with webhook requests by route and status, and unknown routes never become label values.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { signGithub } from '../../../src/extract/push/verify';
import { expectExit, sluice } from '../../helpers/cli-sluice';
import { HOOKS_SECRET, serveHooks } from '../../helpers/hooks-server';

const PROMTOOL = process.env.SLUICE_TEST_PROMTOOL ?? '/usr/bin/promtool';
const required = process.env.SLUICE_REQUIRE_SERVICES === '1';
const hasPromtool = spawnSync(PROMTOOL, ['--version']).status === 0;
if (!hasPromtool && required) throw new Error(`${PROMTOOL} is missing: install Debian's prometheus package (CI does)`);

/** The value of one sample, by name and labels (in any order). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function promtoolCheck(text: string): void {
  if (!hasPromtool) return void console.warn(`SKIPPED promtool check: ${PROMTOOL} is not installed`);
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text });
  expect({ status: r.status, out: `${r.stdout}${r.stderr}` }).toEqual({ status: 0, out: '' });
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-metrics-'));
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, tenant TEXT, updated_at TEXT)`);
  const insert = db.prepare(`INSERT INTO items VALUES (?, ?, ?)`);
  for (let i = 1; i <= 30; i++) insert.run(i, i % 3 === 0 ? 'globex' : 'acme', new Date(Date.now() - 3600_000 + i * 1000).toISOString());
  db.close();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function pipeline(url: string): string {
  writeFileSync(
    join(dir, 'p.yaml'),
    `name: shop
sources:
  - name: items
    read: { driver: sqlite, url: ${url}, table: items, key: id, cursor: updated_at }
tenant: { column: tenant }
export:
  - format: jsonl
    path: out
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  return 'p.yaml';
}

test('sluice run --metrics-file: what the run did, in a file promtool accepts', async () => {
  const r = await sluice(['run', pipeline(join(dir, 'src.db')), '--metrics-file', 'metrics.prom'], { cwd: dir });
  expectExit(r, 0);
  const text = readFileSync(join(dir, 'metrics.prom'), 'utf8');
  const shop = { pipeline: 'shop', source: 'items' };
  expect(sample(text, 'sluice_records_read_total', { ...shop, tenant: 'acme' })).toBe(20);
  expect(sample(text, 'sluice_records_read_total', { ...shop, tenant: 'globex' })).toBe(10);
  expect(sample(text, 'sluice_records_staged_total', { ...shop, tenant: 'acme' })).toBe(20);
  expect(sample(text, 'sluice_records_staged_total', { ...shop, tenant: 'globex' })).toBe(10);
  expect(sample(text, 'sluice_records_unchanged_total', { ...shop, tenant: 'acme' })).toBe(0);
  expect(sample(text, 'sluice_records_exported_total', { pipeline: 'shop', tenant: 'acme' })).toBe(20);
  expect(sample(text, 'sluice_records_exported_total', { pipeline: 'shop', tenant: 'globex' })).toBe(10);
  expect(sample(text, 'sluice_runs_total', { pipeline: 'shop', outcome: 'succeeded' })).toBe(1);
  expect(sample(text, 'sluice_run_duration_seconds_count', { pipeline: 'shop', outcome: 'succeeded' })).toBe(1);
  expect(sample(text, 'sluice_batch_commit_duration_seconds_count', shop)).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'sluice_runs_in_progress', { pipeline: 'shop' })).toBe(0);
  // the newest cursor was staged ~59 minutes ago
  const lag = sample(text, 'sluice_checkpoint_lag_seconds', shop)!;
  expect(lag).toBeGreaterThan(3500);
  expect(lag).toBeLessThan(3700);
  expect(sample(text, 'sluice_last_success_timestamp_seconds', { pipeline: 'shop' })! * 1000).toBeGreaterThan(Date.now() - 60_000);
  promtoolCheck(text);
});

test('a failed run writes its metrics too, with the failure counted', async () => {
  const r = await sluice(['run', pipeline(join(dir, 'missing.db')), '--metrics-file', 'metrics.prom'], { cwd: dir });
  expect(r.code).toBe(1);
  const text = readFileSync(join(dir, 'metrics.prom'), 'utf8');
  expect(sample(text, 'sluice_runs_total', { pipeline: 'shop', outcome: 'failed' })).toBe(1);
  expect(sample(text, 'sluice_runs_total', { pipeline: 'shop', outcome: 'succeeded' })).toBeUndefined();
  promtoolCheck(text);
});

test('GET /metrics on sluice serve: webhook requests by route and status, made-up routes not named', async () => {
  const { base, close } = await serveHooks(dir);
  try {
    const body = JSON.stringify({ id: 'e1', org: 'acme' });
    const post = (path: string, signature: string) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature, 'x-github-delivery': 'd1' }, body });
    expect((await post('/hooks/hooks/events', signGithub(HOOKS_SECRET, Buffer.from(body)))).status).toBe(200);
    expect((await post('/hooks/hooks/events', 'sha256=00')).status).toBe(401);
    expect((await post('/hooks/made-up/route', 'sha256=00')).status).toBe(404);
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const route = '/hooks/:pipeline/:source';
    expect(sample(text, 'sluice_webhook_requests_total', { route, pipeline: 'hooks', source: 'events', status: '200' })).toBe(1);
    expect(sample(text, 'sluice_webhook_requests_total', { route, pipeline: 'hooks', source: 'events', status: '401' })).toBe(1);
    expect(sample(text, 'sluice_webhook_requests_total', { route, pipeline: '', source: '', status: '404' })).toBe(1);
    expect(text).not.toContain('made-up');
    expect(sample(text, 'sluice_staging_pool_connections_in_use', { store: join(dir, 'hooks.db') })).toBeDefined();
    promtoolCheck(text);
  } finally {
    await close();
  }
});

test('records held in quarantine are counted when the metrics are written, not on the run\'s way', async () => {
  const file = pipeline(join(dir, 'src.db'));
  writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8').replace('tenant: { column: tenant }', 'tenant: { column: tenant }\nrefine:\n  - rules:\n      - validate: { id: { max: 25 } }'));
  expectExit(await sluice(['run', file, '--metrics-file', 'metrics.prom'], { cwd: dir }), 0);
  const text = readFileSync(join(dir, 'metrics.prom'), 'utf8');
  expect(sample(text, 'sluice_records_quarantined', { pipeline: 'shop', source: 'items' })).toBe(5);
  promtoolCheck(text);
});
