// `sluice serve` as a real process (`node bin/sluice.js serve … --json`, the compiled CLI in dist/) on a
// PostgreSQL staging store. Killed with SIGKILL under a load of signed webhook deliveries, it has staged
// every delivery it answered 200 (with its record); after a restart, senders retrying every delivery get
// 200 for each ('duplicate' for what was staged, 'staged' for the rest) and each ends up staged exactly
// once. Two servers sharing the store and an every-second schedule run each tick exactly once between
// them. `/health` reports the store and the schedule. SIGTERM stops a server with exit code 0.
// Needs a fresh dist/ (`npm test` builds it first).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { signStandardWebhook } from '../../../src/extract/push/verify';
import { BIN, REPO, sluice } from '../../helpers/cli-sluice';
import { dropScratch, tempDir, type TempDir } from '../../helpers/prop-support';
import { describeWith, scratchDatabase, type ScratchDb } from '../../helpers/services';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const PIPELINE = 'hooks';
const HOOK_PATH = `/hooks/${PIPELINE}/events`;
const SENDERS = 16;
/** SIGKILL the server once this many deliveries have been answered 200. */
const KILL_AFTER = 400;
const TICKER_ROWS = [
  { id: 1, name: 'one' },
  { id: 2, name: 'two' },
  { id: 3, name: 'three' },
];

// --- a `sluice serve` child process ----------------------------------------------------------------------

/** One line of `--json` output. */
interface LogEvent {
  event: string;
  tick?: string;
  [field: string]: unknown;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every server a test started and has not yet seen exit: afterEach SIGKILLs what is left. */
const live = new Set<Server>();

class Server {
  readonly events: LogEvent[] = [];
  /** stdout lines that were not JSON (there should be none) */
  readonly otherOutput: string[] = [];
  stderr = '';
  url = '';
  readonly exited: Promise<Exit>;
  private done = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    live.add(this);
    this.exited = new Promise<Exit>((resolve) =>
      child.on('exit', (code, signal) => {
        this.done = true;
        live.delete(this);
        resolve({ code, signal });
      }),
    );
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines.filter((l) => l.trim() !== '')) {
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          this.otherOutput.push(line);
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
  }

  /** Starts `sluice serve <file> --port 0 --json` (or the port in `PORT`) and resolves once it logs that it is listening. */
  static async start(name: string, file: string, opts: { staging: string; cwd: string; portEnv?: string }): Promise<Server> {
    if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    // the test's environment, without a staging URL leaking in from outside, plus the webhook secret
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'SLUICE_STAGING_URL') env[k] = v;
    Object.assign(env, { FORCE_COLOR: '0', HOOK_SECRET: SECRET }, opts.portEnv === undefined ? {} : { PORT: opts.portEnv });
    const port = opts.portEnv === undefined ? ['--port', '0'] : [];
    const child = spawn(process.execPath, [BIN, 'serve', file, ...port, '--host', '127.0.0.1', '--staging', opts.staging, '--json'], {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Server(name, child);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const listening = server.events.find((e) => e.event === 'listening');
      if (listening) {
        server.url = String(listening.url);
        return server;
      }
      if (server.done) throw new Error(`${name} exited before listening: ${server.describe()}`);
      if (Date.now() > deadline) {
        server.kill('SIGKILL');
        throw new Error(`${name} did not log "listening" within 20 s: ${server.describe()}`);
      }
      await sleep(10);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.done) this.child.kill(signal);
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `ms`). */
  async stop(ms = 15_000): Promise<Exit> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The ticks this server logged a `run` for. */
  ranTicks(): string[] {
    return this.events.filter((e) => e.event === 'run').map((e) => String(e.tick));
  }

  describe(): string {
    return `\n--- ${this.name} stdout\n${this.events.map((e) => JSON.stringify(e)).concat(this.otherOutput).join('\n')}\n--- ${this.name} stderr\n${this.stderr}`;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// --- webhook deliveries ---------------------------------------------------------------------------------

interface Delivery {
  id: string;
  body: string;
}

interface Answer {
  status: number;
  body: { status?: string; id?: string; error?: string; reason?: string };
}

/** Delivery n: a distinct id and a JSON body of about 1 KB. */
function delivery(n: number): Delivery {
  const id = `msg_${String(n).padStart(6, '0')}`;
  const body = JSON.stringify({ type: 'order.updated', n, id, note: `delivery ${n} "quoted" ünï 😀`, filler: 'x'.repeat(900 + (n % 100)) });
  return { id, body };
}

/** POSTs a delivery, signed (Standard Webhooks) at the time it is sent, as a sender's retry is. */
async function send(url: string, d: Delivery): Promise<Answer> {
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(`${url}${HOOK_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': d.id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signStandardWebhook(SECRET, d.id, ts, d.body),
    },
    body: d.body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** Sends every delivery, `concurrency` at a time; returns each one's answer (or the error it met). */
async function sendAll(url: string, deliveries: readonly Delivery[], concurrency: number): Promise<Map<string, Answer | Error>> {
  const out = new Map<string, Answer | Error>();
  let next = 0;
  const worker = async () => {
    while (next < deliveries.length) {
      const d = deliveries[next++]!;
      try {
        out.set(d.id, await send(url, d));
      } catch (err) {
        out.set(d.id, err as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

// --- the store, read directly ---------------------------------------------------------------------------

interface StoredDelivery {
  delivery_id: string;
  key: string;
}

interface StoredRecord {
  key: string;
  tenant: string;
  op: string;
  data: string | null;
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** The delivery rows and the records of a pipeline's source. */
async function stagedOf(url: string, source: string): Promise<{ deliveries: StoredDelivery[]; records: StoredRecord[] }> {
  const deliveries = await query<StoredDelivery>(
    url,
    `SELECT d.delivery_id, d.key FROM sluice_deliveries d JOIN sluice_streams s ON s.id = d.stream_id
      WHERE s.pipeline = $1 AND s.source = $2 ORDER BY d.delivery_id`,
    [PIPELINE, source],
  );
  const records = await query<StoredRecord>(
    url,
    `SELECT r.key, r.tenant, r.op, r.data FROM sluice_records r JOIN sluice_streams s ON s.id = r.stream_id
      WHERE s.pipeline = $1 AND s.source = $2 ORDER BY r.key`,
    [PIPELINE, source],
  );
  return { deliveries, records };
}

// --- pipeline files ---------------------------------------------------------------------------------------

const PUSH_SOURCE = `  - name: events
    push:
      verify: standard-webhooks
      secret: \${HOOK_SECRET}`;

function pushPipeline(dir: string): string {
  const file = join(dir, 'push.yaml');
  writeFileSync(file, `name: ${PIPELINE}\ntenant: { value: acme }\nsources:\n${PUSH_SOURCE}\nexport: []\n`);
  return file;
}

/** The push source plus `ticker`: a tiny SQLite read every second, so each tick is a real run. */
function scheduledPipeline(dir: string): string {
  const db = join(dir, 'src.db');
  if (!existsSync(db)) {
    const sqlite = new Database(db);
    sqlite.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const insert = sqlite.prepare('INSERT INTO t (id, name) VALUES (?, ?)');
    for (const r of TICKER_ROWS) insert.run(r.id, r.name);
    sqlite.close();
  }
  const file = join(dir, 'scheduled.yaml');
  writeFileSync(
    file,
    `name: ${PIPELINE}
tenant: { value: acme }
sources:
${PUSH_SOURCE}
  - name: ticker
    read: { driver: sqlite, url: ${JSON.stringify(db)}, table: t, key: id }
    schedule: "* * * * * *"
export: []
`,
  );
  return file;
}

// --- the tests --------------------------------------------------------------------------------------------

describeWith('postgres', 'sluice serve as a process, on a PostgreSQL staging store', () => {
  let tmp: TempDir;
  let store: ScratchDb | undefined;
  /**
   * A session kept open on the scratch database: another test run's global setup drops `sluice_t_*`
   * databases nobody is connected to, which this one is until its first server starts.
   */
  let guard: pg.Client | undefined;

  beforeEach(async () => {
    tmp = tempDir('serve');
    store = await scratchDatabase('postgres');
    guard = new pg.Client({ connectionString: store.url });
    guard.on('error', () => undefined);
    await guard.connect();
  });
  afterEach(async () => {
    const left = [...live];
    for (const s of left) s.kill('SIGKILL');
    await Promise.all(left.map((s) => s.exited));
    await guard?.end().catch(() => undefined);
    guard = undefined;
    await dropScratch(store);
    store = undefined;
    tmp?.remove();
  }, 30_000);

  test('SIGKILL under load loses no delivery answered 200; after a restart every retry is answered and staged exactly once', async () => {
    const file = pushPipeline(tmp.path);
    const first = await Server.start('server', file, { staging: store!.url, cwd: tmp.path });

    // 1. SENDERS senders post distinct deliveries until KILL_AFTER have been answered 200, then the
    //    server is killed while the others' requests are in flight.
    const sent = new Map<string, Delivery>();
    const answered = new Map<string, string>(); // id → status of a 200 answer
    const refused: string[] = []; // anything but a 200 before the kill
    const unanswered: string[] = []; // requests the kill cut off
    let n = 0;
    let killed = false;
    const sender = async () => {
      while (!killed && refused.length === 0) {
        const d = delivery(n++);
        sent.set(d.id, d);
        try {
          const a = await send(first.url, d);
          if (a.status === 200) answered.set(d.id, String(a.body.status));
          else if (!killed) refused.push(`${d.id}: ${a.status} ${JSON.stringify(a.body)}`);
          if (answered.size >= KILL_AFTER && !killed) {
            killed = true;
            first.kill('SIGKILL');
          }
        } catch (err) {
          if (!killed) refused.push(`${d.id}: ${(err as Error).message}`);
          else unanswered.push(d.id);
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(refused).toEqual([]);
    expect([...new Set(answered.values())]).toEqual(['staged']);
    expect(answered.size).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(unanswered.length).toBeGreaterThan(0); // the kill did cut requests off mid-flight

    // 2. Restart on the same store: everything answered 200 is there, delivery row and record together.
    const second = await Server.start('restarted server', file, { staging: store!.url, cwd: tmp.path });
    const afterKill = await stagedOf(store!.url, 'events');
    const deliveredIds = afterKill.deliveries.map((d) => d.delivery_id);
    const recordKeys = afterKill.records.map((r) => r.key);
    expect([...answered.keys()].filter((id) => !deliveredIds.includes(id))).toEqual([]);
    expect([...answered.keys()].filter((id) => !recordKeys.includes(id))).toEqual([]);
    // committed together or not at all: the same ids in both tables, and nothing that was not sent
    expect(recordKeys).toEqual(deliveredIds);
    expect(afterKill.deliveries.filter((d) => d.key !== d.delivery_id || !sent.has(d.delivery_id))).toEqual([]);
    for (const r of afterKill.records) {
      expect({ key: r.key, tenant: r.tenant, op: r.op, data: JSON.parse(r.data!) as unknown }).toEqual({
        key: r.key,
        tenant: 'acme',
        op: 'upsert',
        data: JSON.parse(sent.get(r.key)!.body) as unknown,
      });
    }

    // 3. The senders retry every delivery, answered or not: each is answered 200, a duplicate exactly
    //    when it was already staged.
    const stagedBefore = new Set(deliveredIds);
    const retries = await sendAll(second.url, [...sent.values()], SENDERS);
    const expected = new Map([...sent.keys()].map((id) => [id, { status: 200, body: { status: stagedBefore.has(id) ? 'duplicate' : 'staged', id } }]));
    expect(retries).toEqual(expected);

    // 4. Each delivery once: one delivery row and one record per id, with the body sent.
    const final = await stagedOf(store!.url, 'events');
    const ids = [...sent.keys()].sort();
    expect(final.deliveries.map((d) => d.delivery_id)).toEqual(ids);
    expect(final.records.map((r) => r.key)).toEqual(ids);
    for (const r of final.records) expect(JSON.parse(r.data!)).toEqual(JSON.parse(sent.get(r.key)!.body));
    const [counts] = await query<{ deliveries: number; distinct_deliveries: number; records: number }>(
      store!.url,
      `SELECT (SELECT count(*)::int FROM sluice_deliveries) AS deliveries,
              (SELECT count(DISTINCT delivery_id)::int FROM sluice_deliveries) AS distinct_deliveries,
              (SELECT count(*)::int FROM sluice_records) AS records`,
    );
    expect(counts).toEqual({ deliveries: ids.length, distinct_deliveries: ids.length, records: ids.length });

    const exit = await second.stop();
    expect({ exit, stopped: second.events.some((e) => e.event === 'stopped') }).toEqual({ exit: { code: 0, signal: null }, stopped: true });
  }, 60_000);

  test('two servers sharing the store and an every-second schedule run each tick exactly once between them', async () => {
    const file = scheduledPipeline(tmp.path);
    // One after the other: on a fresh store, servers starting at the same moment race to create the
    // migration tables and one can die with SLUICE_STAGING_CONNECT; here the second finds it migrated.
    const servers = [await Server.start('server A', file, { staging: store!.url, cwd: tmp.path })];
    servers.push(await Server.start('server B', file, { staging: store!.url, cwd: tmp.path }));
    await sleep(4_500);
    const exits = await Promise.all(servers.map((s) => s.stop()));
    const logs = servers.map((s) => s.describe()).join('');
    expect({ exits, logs }).toEqual({ exits: [{ code: 0, signal: null }, { code: 0, signal: null }], logs });

    const ticks = await query<{ tick: string; claimed_by: string }>(
      store!.url,
      `SELECT tick, claimed_by FROM sluice_ticks WHERE pipeline = $1 AND source = 'ticker' ORDER BY tick`,
      [PIPELINE],
    );
    const runs = await query<{ status: string; error: string | null }>(store!.url, `SELECT status, error FROM sluice_runs WHERE pipeline = $1`, [PIPELINE]);
    const claimed = ticks.map((t) => t.tick);

    // no failed, cancelled or abandoned runs, and one succeeded run per tick claimed
    expect({ runs: runs.filter((r) => r.status !== 'succeeded'), logs }).toEqual({ runs: [], logs });
    expect({ ticks: claimed.length, runs: runs.length, logs }).toEqual({ ticks: claimed.length, runs: claimed.length, logs });
    expect(claimed.length).toBeGreaterThanOrEqual(3);
    for (const t of claimed) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);

    // the logs agree: each claimed tick has one `run` event, in one of the two servers, and no other
    const [a, b] = servers.map((s) => s.ranTicks());
    expect({ inBoth: a!.filter((t) => b!.includes(t)), logs }).toEqual({ inBoth: [], logs });
    expect({ ran: [...a!, ...b!].sort(), logs }).toEqual({ ran: claimed, logs });
    expect(servers.flatMap((s) => s.events.filter((e) => e.event === 'run-failed'))).toEqual([]);
    for (const s of servers) expect(s.otherOutput).toEqual([]);

    // between them they read the table on every tick and staged each row exactly once
    const runEvents = servers.flatMap((s) => s.events.filter((e) => e.event === 'run'));
    const counts = runEvents.map((e) => (e.sources as { name: string; read: number; staged: number }[]).find((src) => src.name === 'ticker')!);
    expect(counts.every((c) => c.read === TICKER_ROWS.length)).toBe(true);
    expect(counts.reduce((sum, c) => sum + c.staged, 0)).toBe(TICKER_ROWS.length);
    const { records } = await stagedOf(store!.url, 'ticker');
    expect(records.map((r) => JSON.parse(r.data!) as unknown)).toEqual(TICKER_ROWS);
  }, 60_000);

  test('without --port it listens on PORT; a PORT that is not a port is refused with exit code 2', async () => {
    const file = scheduledPipeline(tmp.path);
    const free = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const server = await Server.start('server', file, { staging: store!.url, cwd: tmp.path, portEnv: String(free) });
    expect(new URL(server.url).port).toBe(String(free));
    expect((await fetch(`http://127.0.0.1:${free}/health`)).status).toBe(200);
    expect(await server.stop()).toEqual({ code: 0, signal: null });

    const refused = await sluice(['serve', file, '--staging', store!.url], { cwd: tmp.path, env: { PORT: 'eighty', HOOK_SECRET: SECRET } });
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/PORT.*eighty/) });
  }, 30_000);

  test('GET /health answers 200 with the store ok and the schedule with its next run', async () => {
    const file = scheduledPipeline(tmp.path);
    const server = await Server.start('server', file, { staging: store!.url, cwd: tmp.path });
    const before = Date.now();
    const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(10_000) });
    const after = Date.now();
    const health = (await res.json()) as {
      status: string;
      stores: { location: string; ok: boolean }[];
      schedules: { pipeline: string; source: string; expression: string; next: string | null }[];
      intake: { route: string; pending: number }[];
    };
    expect({ code: res.status, health }).toMatchObject({
      code: 200,
      health: {
        status: 'ok',
        stores: [{ location: expect.stringMatching(new RegExp(`^postgres .*${store!.name}`)), ok: true }],
        schedules: [{ pipeline: PIPELINE, source: 'ticker', expression: '* * * * * *', next: expect.any(String) }],
        intake: [{ route: HOOK_PATH, pending: 0 }],
      },
    });
    // every second: the next run is the next whole second after the request
    const next = Date.parse(health.schedules[0]!.next!);
    expect(next % 1000).toBe(0);
    expect(next).toBeGreaterThan(before - 1000);
    expect(next).toBeLessThanOrEqual(after + 1000);

    expect(await server.stop()).toEqual({ code: 0, signal: null });
  }, 30_000);
});
