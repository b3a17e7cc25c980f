/**
 * The push benchmark: the same load generator (autocannon, N connections for D seconds, each request a
 * distinct ~1 KB delivery signed with Standard Webhooks) against
 *  1. the ceiling: a bare Node HTTP server that checks the signature and answers 204, storing nothing;
 *  2. `sluice serve`, staging each delivery into PostgreSQL and answering only after the commit.
 * Both servers run side by side and are loaded in turns, several rounds (the order alternating), and
 * the round with the median ratio counts: on a two-core machine one load of the ceiling can differ from
 * the next by half, and a ratio of two single runs taken a minute apart measured that as much as Sluice.
 * Then it checks that every 2xx sluice gave is a delivery row in the store.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { signStandardWebhook } from '../src/extract/push/verify';
import { connect, databaseUrl, dropDatabase, environment, recreateDatabase, redact } from './db';
import { BenchError, ROOT } from './measure';
import type { Check, Report, Row, Target } from './report';

export interface PushOptions {
  pg: string;
  connections: number;
  seconds: number;
  rounds: number;
  keep: boolean;
}

const STAGE_DB = 'sluice_bench_push';
const TARGETS = { ratioToCeiling: 0.5, p99Ms: 50 };
const WARMUP_SECONDS = 2;
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'stark', 'wayne'];

const PIPELINE = `name: bench_push
sources:
  - name: events
    push:
      verify: standard-webhooks
      secret: \${SLUICE_BENCH_SECRET}
      tenant: $.tenant
export: []
`;

interface Load {
  /** The delivery ids answered 2xx. */
  answered: string[];
  ok: number;
  other: number;
  errors: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  seconds: number;
}

export async function pushBenchmark(o: PushOptions): Promise<Report> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const stagingUrl = databaseUrl(o.pg, STAGE_DB);
  const admin = await connect(o.pg);
  const work = await mkdtemp(join(tmpdir(), 'sluice-bench-push-'));
  const env = { ...process.env, SLUICE_BENCH_SECRET: secret };
  try {
    await recreateDatabase(admin, STAGE_DB);
    await writeFile(join(work, 'pipeline.yaml'), PIPELINE);

    const args = [join(ROOT, 'bin/sluice.js'), 'serve', 'pipeline.yaml', '--port', '0', '--host', '127.0.0.1', '--json', '--staging', stagingUrl];
    // SLUICE_BENCH_PROFILE=DIR: the server writes a V8 CPU profile there when it stops
    const profile = process.env.SLUICE_BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.SLUICE_BENCH_PROFILE] : [];
    const { warm, ceiling: ceilings, sluice: sluices } = await withServer(
      spawn(process.execPath, [join(ROOT, 'dist/bench/ceiling-server.js')], { env }),
      (line) => line.trim(),
      (ceilingPort) =>
        withServer(spawn(process.execPath, [...profile, ...args], { cwd: work, env }), listeningPort, async (sluicePort) => {
          const urls = { ceiling: `http://127.0.0.1:${ceilingPort}/`, sluice: `http://127.0.0.1:${sluicePort}/hooks/bench_push/events` };
          const names = { ceiling: 'ceiling: bare node:http, verify and 204', sluice: 'sluice serve, staging into PostgreSQL' };
          process.stderr.write(`warming up both servers (${WARMUP_SECONDS} s each)…\n`);
          await load(urls.ceiling, secret, o.connections, WARMUP_SECONDS);
          const runs = { warm: await load(urls.sluice, secret, o.connections, WARMUP_SECONDS), ceiling: [] as Load[], sluice: [] as Load[] };
          for (let round = 1; round <= o.rounds; round++) {
            const order = round % 2 === 1 ? (['ceiling', 'sluice'] as const) : (['sluice', 'ceiling'] as const);
            for (const which of order) {
              process.stderr.write(`round ${round}/${o.rounds}: ${names[which]} (${o.connections} connections, ${o.seconds} s)… `);
              const l = await load(urls[which], secret, o.connections, o.seconds);
              runs[which].push(l);
              process.stderr.write(`${Math.round(l.requestsPerSecond).toLocaleString('en-US')} req/s\n`);
            }
          }
          return runs;
        }),
    );

    // Every 2xx must be a committed delivery with its record; more may be staged (answers the load
    // generator stopped waiting for at the end of its run).
    const answered = [warm, ...sluices].flatMap((l) => l.answered);
    const store = await connect(stagingUrl);
    const count = async (sql: string) => Number((await store.query<{ n: string }>(sql, [answered])).rows[0]!.n);
    const staged = await count('SELECT count(*) AS n FROM sluice_deliveries WHERE delivery_id = ANY($1)');
    const records = await count('SELECT count(*) AS n FROM sluice_records WHERE key = ANY($1)');
    await store.end();

    const ratios = sluices.map((l, i) => l.requestsPerSecond / ceilings[i]!.requestsPerSecond);
    // the round whose ratio is the median (of an even number, the lower of the middle two)
    const middle = [...ratios.keys()].sort((x, y) => ratios[x]! - ratios[y]!)[(ratios.length - 1) >> 1]!;
    const ratio = ratios[middle]!;
    const worstP99 = Math.max(...sluices.map((l) => l.p99));
    const row = (path: string, l: Load, ratioToCeiling: number): Row => ({
      path: `${path} (round ${middle + 1} of ${o.rounds})`,
      rows: l.ok,
      seconds: l.seconds,
      rowsPerSecond: l.requestsPerSecond,
      ratioToCeiling,
      p50Ms: l.p50,
      p99Ms: l.p99,
    });
    const all = (ls: Load[]) => ls.reduce((n, l) => n + l.other + l.errors, 0);
    const targets: Target[] = [
      { name: `sluice serve ≥ ${TARGETS.ratioToCeiling}× the ceiling's requests/s (the median of ${o.rounds} rounds)`, pass: ratio >= TARGETS.ratioToCeiling, actual: `${ratio.toFixed(2)}× (rounds: ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')})` },
      { name: `sluice serve p99 < ${TARGETS.p99Ms} ms (in every round)`, pass: worstP99 < TARGETS.p99Ms, actual: `${worstP99} ms at worst` },
    ];
    const checks: Check[] = [
      { name: 'sluice: answers other than 2xx, and errors', expected: 0, actual: all([warm, ...sluices]) },
      { name: 'sluice: ids answered 2xx (as the load generator counted them)', expected: [warm, ...sluices].reduce((n, l) => n + l.ok, 0), actual: answered.length },
      { name: 'sluice: ids answered 2xx that are committed deliveries', expected: answered.length, actual: staged },
      { name: 'sluice: ids answered 2xx whose record is staged', expected: answered.length, actual: records },
      { name: 'ceiling: answers other than 2xx, and errors', expected: 0, actual: all(ceilings) },
    ];
    const perRound = (l: Load, i: number) => `${Math.round(l.requestsPerSecond).toLocaleString('en-US')} req/s in round ${i + 1}, p50 ${l.p50} ms, p99 ${l.p99} ms`;
    return {
      benchmark: 'push',
      at: new Date().toISOString(),
      options: { connections: o.connections, seconds: o.seconds, rounds: o.rounds, pg: redact(o.pg) },
      environment: await environment(admin),
      rows: [row('ceiling: node:http, verify, 204', ceilings[middle]!, 1), row('sluice serve → PostgreSQL', sluices[middle]!, ratio)],
      targets,
      checks,
      details: {
        notes: [...ceilings.map((l, i) => `ceiling: ${perRound(l, i)}`), ...sluices.map((l, i) => `sluice: ${perRound(l, i)} (${ratios[i]!.toFixed(2)}× that round's ceiling)`)],
        rounds: { ceiling: ceilings.map(({ answered: _, ...l }) => l), sluice: sluices.map(({ answered: _, ...l }) => l) },
      },
    };
  } finally {
    if (o.keep) process.stderr.write(`kept: database ${STAGE_DB} and ${work}\n`);
    else {
      await dropDatabase(admin, STAGE_DB).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
    await admin.end();
  }
}

/** `autocannon` against `url`: every request a new delivery id, timestamp and signature. */
async function load(url: string, secret: string, connections: number, seconds: number): Promise<Load> {
  const pad = 'x'.repeat(800);
  const answered: string[] = [];
  let n = 0;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req, context: { id?: string }) => {
          const id = `msg_${process.pid}_${Date.now()}_${n++}`;
          context.id = id; // a connection has one request in flight: onResponse reads it back
          const ts = Math.floor(Date.now() / 1000);
          const body = JSON.stringify({ type: 'order.updated', tenant: TENANTS[n % TENANTS.length], id, data: { amount: n % 1000, note: pad } });
          return {
            ...req,
            body,
            headers: { ...req.headers, 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signStandardWebhook(secret, id, ts, body) },
          };
        },
        onResponse: (status: number, _body: string, context: { id?: string }) => {
          if (status >= 200 && status < 300 && context.id) answered.push(context.id);
        },
      },
    ],
  });
  return {
    answered,
    ok: result['2xx'],
    other: result.non2xx,
    errors: result.errors + result.timeouts,
    requestsPerSecond: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    seconds: result.duration,
  };
}

/** Starts a server process, learns its port from its first stdout line, runs `work`, then stops it. */
async function withServer<T>(child: ChildProcessWithoutNullStreams, portOf: (line: string) => string, work: (port: string) => Promise<T>): Promise<T> {
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const lines = createInterface({ input: child.stdout });
    const first = await Promise.race([
      new Promise<string>((resolve) => lines.once('line', resolve)),
      exited.then((code) => {
        throw new BenchError(`the server exited (${code}) before listening: ${Buffer.concat(stderr).toString().trim()}`);
      }),
    ]);
    lines.on('line', () => undefined); // keep reading so the child never blocks on a full pipe
    return await work(portOf(first));
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function listeningPort(line: string): string {
  const url = (JSON.parse(line) as { url?: string }).url;
  if (!url) throw new BenchError(`sluice serve did not say where it listens: ${line}`);
  return new URL(url).port;
}
