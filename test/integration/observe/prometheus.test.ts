// Debian's real Prometheus server scrapes `sluice serve`: after webhook deliveries, a refused request
// and a run, the counters are there to query through Prometheus's own HTTP API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signGithub } from '../../../src/extract/push/verify';
import { HOOKS_SECRET, serveHooks } from '../../helpers/hooks-server';

const PROMETHEUS = process.env.SLUICE_TEST_PROMETHEUS ?? '/usr/bin/prometheus';
const available = spawnSync(PROMETHEUS, ['--version']).status === 0;
if (!available && process.env.SLUICE_REQUIRE_SERVICES === '1') throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus package (CI does)`);
const maybe = available ? test : test.skip;
if (!available) console.warn(`SKIPPED the Prometheus scrape test: ${PROMETHEUS} is not installed`);

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await probe().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

maybe('Prometheus scrapes /metrics and answers queries over its counters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-'));
  let prometheus: ChildProcess | undefined;
  const { base, service, close } = await serveHooks(dir);
  try {
    const target = new URL(base);
    for (const [i, org] of ['acme', 'acme', 'globex'].entries()) {
      const body = JSON.stringify({ id: `e${i}`, org });
      const res = await fetch(`${target.origin}/hooks/hooks/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signGithub(HOOKS_SECRET, body), 'x-github-delivery': `d${i}` }, body });
      expect(res.status).toBe(200);
    }
    await fetch(`${target.origin}/hooks/hooks/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' }, body: '{}' });
    // and a run, as the API starts one
    const started = service.startRun('hooks', { actor: 'test' })!;
    while (service.apiRunPipeline(started.run) !== undefined) await new Promise((r) => setTimeout(r, 20));

    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: sluice\n    static_configs: [{ targets: ["${target.host}"] }]\n`);
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const api = `http://127.0.0.1:${port}/api/v1/query?query=`;
    const value = (query: string) =>
      until(query, async () => {
        const body = (await (await fetch(api + encodeURIComponent(query))).json()) as { status: string; data: { result: { value: [number, string] }[] } };
        return body.status === 'success' && body.data.result.length > 0 ? Number(body.data.result[0]!.value[1]) : undefined;
      });
    expect(await value('up{job="sluice"} == 1')).toBe(1);
    expect(await value('sum(sluice_webhook_requests_total{pipeline="hooks",status="200"})')).toBe(3);
    expect(await value('sum(sluice_webhook_requests_total{status="401"})')).toBe(1);
    expect(await value('sluice_runs_total{pipeline="hooks",outcome="succeeded"}')).toBe(1);
    expect(await value('sluice_run_duration_seconds_count{pipeline="hooks"}')).toBe(1);
  } finally {
    prometheus?.kill('SIGTERM');
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
