// Alert rules: `sluice alerts export` writes a rules file promtool accepts; the evaluator in `sluice serve`
// fires an alert once per breach, repeats at most every `repeat`, resolves when it clears, survives a
// restart without firing again, lets only one of two processes send a notice, and signs every notice
// with Standard Webhooks (checked here from the spec, not with Sluice's own signer), retrying on 5xx;
// each move is in the audit log and in GET /api/v1/alerts (behind the admin token).
import { createHmac } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPipeline, type Pipeline } from '../../../src/run/pipeline';
import { runPipeline } from '../../../src/run/run';
import { Service } from '../../../src/run/serve';
import { buildServer } from '../../../src/server/app';
import { openStore } from '../../../src/stage/open';
import { expectExit, sluice } from '../../helpers/cli-sluice';
import { LocalServer, readBody } from '../../servers/local-server';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PROMTOOL = process.env.SLUICE_TEST_PROMTOOL ?? '/usr/bin/promtool';

interface Notice {
  id: string;
  body: Record<string, unknown>;
  signatureOk: boolean;
}

let dir: string;
let receiver: LocalServer;
let notices: Notice[];
/** webhook-id of each refused attempt */
let refused: string[];
let failNext = 0;
let now: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-alerts-'));
  notices = [];
  refused = [];
  failNext = 0;
  now = Date.now();
  receiver = new LocalServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((body) => {
      if (failNext > 0) {
        failNext--;
        refused.push(String(req.headers['webhook-id']));
        res.writeHead(503).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      const ts = String(req.headers['webhook-timestamp']);
      const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
      const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
      const signatureOk = String(req.headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
      notices.push({ id, body: JSON.parse(body) as Record<string, unknown>, signatureOk });
      res.writeHead(204).end();
    });
  });
  await receiver.listen();
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, updated_at TEXT)`);
  db.prepare(`INSERT INTO items VALUES (1, ?), (2, ?)`).run(new Date(now - 7200_000).toISOString(), new Date(now - 5400_000).toISOString());
  db.close();
});
afterEach(async () => {
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

function pipelineFile(source = 'src.db', alerts = DEFAULT_ALERTS): string {
  const file = join(dir, `p-${source}.yaml`);
  writeFileSync(
    file,
    `name: shop
sources:
  - name: items
    read: { driver: sqlite, url: ${join(dir, source)}, table: items, key: id, cursor: updated_at }
tenant: { value: acme }
staging: sqlite:${join(dir, 'staging.db')}
alerts:
${alerts}
notifiers:
  ops: { url: "${receiver.origin}/hook", sign: standard-webhooks, secret: ${SECRET}, retries: 3 }
`,
  );
  return file;
}

const DEFAULT_ALERTS = `  - { name: Failing, when: "error_ratio > 0.4", over: 1d, repeat: 1h, severity: critical, notify: [ops] }
  - { name: Stale, when: "checkpoint_lag_seconds > 3600", for: 10m, notify: [ops] }
  - { name: Quiet, when: "since_last_success_seconds > 86400", notify: [ops] }`;

const ok = (): Pipeline => loadPipeline(pipelineFile(), {});
const broken = (): Pipeline => loadPipeline(pipelineFile('missing.db'), {});
const open = (p: Pipeline) => Service.open([p], { alertIntervalMs: 0, alerting: { now: () => now, retryDelayMs: 10 } });
const kinds = () => notices.map((n) => `${n.body.alert}:${n.body.type}`);

test('alerts export: a Prometheus rules file promtool accepts', async () => {
  pipelineFile();
  const r = await sluice(['alerts', 'export', 'p-src.db.yaml', '--out', 'rules.yml'], { cwd: dir });
  expectExit(r, 0);
  const check = spawnSync(PROMTOOL, ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
  if (check.error && process.env.SLUICE_REQUIRE_SERVICES !== '1') return void console.warn(`SKIPPED promtool check rules: ${check.error.message}`);
  expect({ status: check.status, out: check.stdout }).toEqual({ status: 0, out: expect.stringContaining('SUCCESS: 3 rules found') });
});

test('bad alert rules are refused with the file, line and field', () => {
  const file = pipelineFile('src.db', `  - { name: A, when: "error_rate > 1", notify: [pager] }`);
  expect(() => loadPipeline(file, {})).toThrow(/alerts\[0\]\.when: expected "<signal> <op> <number>"/);
  expect(() => loadPipeline(pipelineFile('src.db', `  - { name: A, when: "error_ratio > 1", notify: [pager] }`), {})).toThrow(/alerts\[0\]\.notify\[0\]: no notifier named pager/);
});

test('fires once, repeats per interval, resolves; the audit log and the API show it', async () => {
  await expect(runPipeline(broken(), {})).rejects.toThrow();
  const service = await open(ok());
  const app = buildServer(service);
  try {
    // checkpoint lag cannot be known yet (nothing staged); a failed run and no success
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Failing', instance: '', event: 'firing' }]);
    expect(await service.alerting!.evaluate()).toEqual([]); // still firing: no second notice
    now += 61 * 60_000;
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Failing', instance: '', event: 'repeat' }]);
    // two successful runs: 1 failed of 3 is under 0.4; the cursor (90 minutes old) starts the Stale clock
    await runPipeline(ok(), {});
    await runPipeline(ok(), {});
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Failing', instance: '', event: 'resolved' }]);
    now += 11 * 60_000; // Stale has held for more than its 10 minutes
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Stale', instance: 'items', event: 'firing' }]);
    expect(kinds()).toEqual(['Failing:alert.firing', 'Failing:alert.repeat', 'Failing:alert.resolved', 'Stale:alert.firing']);
    expect(notices.every((n) => n.signatureOk)).toBe(true);
    expect(notices[0]!.body).toMatchObject({ pipeline: 'shop', severity: 'critical', condition: 'error_ratio > 0.4', value: 1 });

    const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
    try {
      const audit = await store.audit({ pipeline: 'shop', action: 'alert.', limit: 10 });
      expect(audit.map((a) => a.action).reverse()).toEqual(['alert.firing', 'alert.repeat', 'alert.resolved', 'alert.firing']);
    } finally {
      await store.close();
    }

    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await fetch(`${base}/api/v1/alerts`)).status).toBe(401); // no token
    (service as unknown as { opts: { adminToken?: string } }).opts.adminToken = 'admin-token-1';
    expect((await fetch(`${base}/api/v1/alerts`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const listed = (await (await fetch(`${base}/api/v1/alerts`, { headers: { authorization: 'Bearer admin-token-1' } })).json()) as { alerts: { alert: string; state: string }[] };
    expect(listed.alerts.map((a) => [a.alert, a.state])).toEqual([
      ['Failing', 'inactive'],
      ['Stale', 'firing'],
    ]);
  } finally {
    await app.close();
    await service.close();
  }
});

test('a restart does not fire again, and of two processes only one sends the notice', async () => {
  await expect(runPipeline(broken(), {})).rejects.toThrow();
  const [a, b] = [await open(ok()), await open(ok())];
  try {
    const both = await Promise.all([a.alerting!.evaluate(), b.alerting!.evaluate()]);
    expect(both.flat()).toEqual([{ pipeline: 'shop', alert: 'Failing', instance: '', event: 'firing' }]);
  } finally {
    await a.close();
    await b.close();
  }
  const again = await open(ok());
  try {
    expect(await again.alerting!.evaluate()).toEqual([]);
    expect(kinds()).toEqual(['Failing:alert.firing']);
  } finally {
    await again.close();
  }
});

test('a notice answered 503 is retried with the same message id; one that never gets through is audited', async () => {
  await expect(runPipeline(broken(), {})).rejects.toThrow();
  failNext = 2;
  const service = await open(ok());
  try {
    await service.alerting!.evaluate();
    expect(kinds()).toEqual(['Failing:alert.firing']);
    expect(refused).toEqual([notices[0]!.id, notices[0]!.id]);
    now += 61 * 60_000;
    failNext = 100;
    await service.alerting!.evaluate();
    const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
    try {
      const [failed] = await store.audit({ action: 'alert.notify_failed', limit: 1 });
      expect(failed!.detail).toMatchObject({ alert: 'Failing', notifier: 'ops', reason: expect.stringMatching(/answered 503/) });
    } finally {
      await store.close();
    }
  } finally {
    await service.close();
  }
});

test('each kind of signal: no successful run for too long, and too many records held', async () => {
  const quiet = `  - { name: Quiet, when: "since_last_success_seconds > 3600", notify: [ops] }
  - { name: Held, when: "quarantined_records >= 2", notify: [ops] }`;
  const file = pipelineFile('src.db', quiet);
  writeFileSync(join(dir, 'refined.yaml'), readFileSync(file, 'utf8').replace('tenant: { value: acme }', 'tenant: { value: acme }\nrefine:\n  - rules:\n      - validate: { updated_at: { pattern: "^1999" } }'));
  const p = loadPipeline(join(dir, 'refined.yaml'), {});
  await runPipeline(p, {}); // succeeds; both records fail the check and are held
  const service = await open(p);
  try {
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Held', instance: '', event: 'firing' }]);
    now += 3601_000; // an hour and a second since the last success
    expect(await service.alerting!.evaluate()).toEqual([{ pipeline: 'shop', alert: 'Quiet', instance: '', event: 'firing' }]);
    await runPipeline(p, {}); // a success again (at real time, before the test's clock)
    now = Date.now() + 1000;
    expect((await service.alerting!.evaluate()).map((e) => `${e.alert}:${e.event}`)).toEqual(['Quiet:resolved']);
    expect(kinds()).toEqual(['Held:alert.firing', 'Quiet:alert.firing', 'Quiet:alert.resolved']);
  } finally {
    await service.close();
  }
});
