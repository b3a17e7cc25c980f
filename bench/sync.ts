/**
 * The `sync` benchmark: two-way sync of PostgreSQL `customers` ↔ MariaDB `contacts`
 * (`pipelines/crm-sync.yaml`), against a ceiling, in one run:
 *
 *  1. `fixtures/crm/setup.js` fills both with N people (overlap 1: every customer is also a contact, same
 *     content; round(N × 0.1) more contacts exist only in MariaDB); a first `sluice sync` links them by
 *     email (and creates the support-only contacts in the CRM): measured, no target;
 *  2. `edit` changes 10% of the rows on each side (some people change on both sides);
 *  3. the ceiling: a plain in-process script (pg + mysql2) reads the customers changed since just before
 *     the edit and upserts them, mapped as the pipeline maps them, into a copy of `contacts`
 *     (`contacts_ceiling`, made before the clock starts, so the real tables still hold the edits) in
 *     batches of 1,000 rows, each one multi-row `INSERT … ON DUPLICATE KEY UPDATE` in a transaction;
 *     one direction only;
 *  4. the measured `sluice sync`: records written per direction over the run's seconds, against the
 *     ceiling's records/s;
 *  5. a `sluice sync` with nothing changed, over all the links;
 *  6. `listen: true`: the pipeline with `listen: true` on the CRM side and no schedule is written to the
 *     work folder and served (`sluice serve --json`, a child process); once it listens, one customer's
 *     `full_name` is set to a unique marker every 60 ms (1,000 changes a minute) for LISTEN_SECONDS, on
 *     customers that are the same on both sides and not in the conflict queue, while one query every
 *     25 ms asks MariaDB which markers its contacts show (by email): each change's latency is from its
 *     commit to its marker seen; p50, p99 and max, and where the time goes from the serve log (each
 *     woken sync's duration); then SIGTERM, and the server's exit;
 *  7. checks: after the measured run, every record's mapped values agree on both sides except those
 *     waiting in the conflict queue, the run with nothing changed writes nothing, and every listened
 *     change arrives.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import pg from 'pg';
import type * as CrmFixture from '../fixtures/crm/setup';
import type { SyncSummary } from '../src/run/sync';
import type { SyncConflict } from '../src/stage/sync-store';
import { connect, connectMysql, databaseUrl, dropDatabase, environment, mysqlVersion, recreateDatabase, redact, STAGE_DB } from './db';
import { BenchError, type Measured, ROOT, sluiceJson, sluiceSync, type SluiceSync, step } from './measure';
import type { Check, Report, Row, Target } from './report';

export interface SyncOptions {
  rows: number;
  pg: string;
  mysql: string;
  keep: boolean;
  /** How long the listen measurement drives changes (default LISTEN_SECONDS). */
  listenSeconds?: number;
}

/** The CRM (PostgreSQL) and the support desk (MariaDB) the benchmark makes and drops; staging is STAGE_DB. */
export const CRM_DB = 'sluice_bench_crm';
export const SUPPORT_DB = 'sluice_bench_support';

const PIPELINE_FILE = join(ROOT, 'pipelines', 'crm-sync.yaml');
const EDIT_FRACTION = 0.1;
const SEED = 1;
const EDIT_SEED = 2;
const CEILING_BATCH = 1000;
const CEILING_TABLE = 'contacts_ceiling';
/** Rows per query when both sides are read back for the comparison. */
const COMPARE_CHUNK = 20_000;
const TARGETS = { ratioToCeiling: 0.5, noChangeSeconds: 2, listenP99Seconds: 2, listenChangesPerMinute: 1000 };

/** The fixture is plain CommonJS at the repository root; this file runs from dist/bench/. */
function fixture(): typeof CrmFixture {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(ROOT, 'fixtures', 'crm', 'setup.js')) as typeof CrmFixture;
}

// ---------------------------------------------------------------------------------------------------
// The ceiling

interface Ceiling extends Measured {
  /** Rows INSERT … ON DUPLICATE KEY UPDATE reported as inserted (none expected: every email exists). */
  inserted: number;
}

/** What the changed customer becomes as a contact, as the pipeline maps it. */
function contactValues(c: { email: string; full_name: string | null; status: string | null; tags: string[] | null; ltv: string | null; signed_up: Date | null }): unknown[] {
  return [
    c.email,
    c.full_name,
    c.status === 'churned' ? 'C' : 'A', // map { active: A, churned: C }, default A
    c.tags === null ? null : c.tags.join(','), // array_to_string, separator ","
    c.ltv, // number_to_string (PostgreSQL's text of the numeric)
    c.signed_up === null ? null : c.signed_up.toISOString().slice(0, 10), // datetime_to_date (UTC)
  ];
}

/** Copies `contacts` to `contacts_ceiling` (not timed), so the ceiling's writes leave the real table to Sluice. */
async function prepareCeiling(support: mysql.Connection): Promise<void> {
  await support.query(`DROP TABLE IF EXISTS ${CEILING_TABLE}`);
  await support.query(`CREATE TABLE ${CEILING_TABLE} LIKE contacts`);
  await support.query(`INSERT INTO ${CEILING_TABLE} SELECT * FROM contacts`);
  await support.query(`ANALYZE TABLE ${CEILING_TABLE}`);
}

/**
 * The ceiling, timed from connecting to the last commit: the customers changed after `since`, read in
 * one query, upserted 1,000 at a time into `contacts_ceiling` by email_address.
 */
async function ceiling(crmUrl: string, supportUrl: string, since: string): Promise<Ceiling> {
  const started = performance.now();
  const crm = new pg.Client({ connectionString: crmUrl, application_name: 'sluice-bench-ceiling' });
  await crm.connect();
  const support = await connectMysql(supportUrl);
  let rows = 0;
  let inserted = 0;
  try {
    const changed = await crm.query<{ email: string; full_name: string | null; status: string | null; tags: string[] | null; ltv: string | null; signed_up: Date | null }>(
      'SELECT email, full_name, status, tags, lifetime_value::text AS ltv, signed_up FROM customers WHERE updated_at > $1::timestamptz',
      [since],
    );
    for (let i = 0; i < changed.rows.length; i += CEILING_BATCH) {
      const batch = changed.rows.slice(i, i + CEILING_BATCH).map(contactValues);
      await support.beginTransaction();
      try {
        const [res] = await support.query<mysql.ResultSetHeader>(
          `INSERT INTO ${CEILING_TABLE} (email_address, display_name, state, tag_list, ltv_text, signup_date) VALUES ? ` +
            'ON DUPLICATE KEY UPDATE display_name = VALUES(display_name), state = VALUES(state), tag_list = VALUES(tag_list), ltv_text = VALUES(ltv_text), signup_date = VALUES(signup_date)',
          [batch],
        );
        await support.commit();
        // affectedRows: 1 per row inserted, 2 per row updated, 0 per row left as it was
        const dup = /Duplicates: (\d+)/.exec(res.info ?? '');
        if (dup) inserted += batch.length - Number(dup[1]);
      } catch (err) {
        await support.rollback().catch(() => undefined);
        throw err;
      }
      rows += batch.length;
    }
  } finally {
    await crm.end();
    await support.end();
  }
  return { rows, seconds: (performance.now() - started) / 1000, inserted };
}

// ---------------------------------------------------------------------------------------------------
// The comparison of both sides

interface Comparison {
  /** People on both sides, by email. */
  compared: number;
  /** On one side only. */
  missing: number;
  /** Whose mapped values differ: customer id and contact_id (as the conflict queue names them), fields. */
  differing: { aKey: string; bKey: string; fields: string[] }[];
  /** Rows changed since `since` on either side (edited, or written by Sluice). */
  changed: number;
}

interface CrmRow {
  id: number;
  email: string;
  full_name: string | null;
  status: string | null;
  tags: string | null;
  ltv: string | null;
  signup: string | null;
  changed: boolean;
}

interface SupportRow {
  contact_id: number;
  email_address: string;
  display_name: string | null;
  state: string | null;
  tag_list: string | null;
  ltv_text: string | null;
  signup_date: string | null;
  changed: number;
}

/** The fields of a customer and its contact that disagree under the pipeline's mapping. */
function differences(c: CrmRow, s: SupportRow): string[] {
  const out: string[] = [];
  if (c.full_name !== s.display_name) out.push('full_name');
  // map { active: A, churned: C }, default A (a→b); a contact's null state comes back as a null status
  const state = c.status === 'churned' ? 'C' : c.status === 'active' ? 'A' : null;
  if (!(s.state === state || (state === null && s.state === 'A'))) out.push('status');
  if ((c.tags ?? '') !== (s.tag_list ?? '')) out.push('tags');
  const ltvSame = c.ltv === null || s.ltv_text === null ? c.ltv === s.ltv_text : Number(c.ltv) === Number(s.ltv_text);
  if (!ltvSame) out.push('lifetime_value');
  // a → b only: a contact keeps its own date where the customer has none
  if (c.signup !== null && c.signup !== s.signup_date) out.push('signed_up');
  return out;
}

/** Reads both sides' mapped columns (keyset chunks) and compares them person by person, by email. */
async function compareSides(crm: pg.Client, support: mysql.Connection, since: string): Promise<Comparison> {
  const customers = new Map<string, CrmRow>();
  for (let after = 0; ; ) {
    const r = await crm.query<CrmRow>(
      `SELECT id, email, full_name, status, array_to_string(tags, ',') AS tags, lifetime_value::text AS ltv,
              to_char(signed_up AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS signup, updated_at > $2::timestamptz AS changed
         FROM customers WHERE id > $1 ORDER BY id LIMIT ${COMPARE_CHUNK}`,
      [after, since],
    );
    if (r.rows.length === 0) break;
    for (const row of r.rows) customers.set(row.email, row);
    after = r.rows.at(-1)!.id;
  }
  // MariaDB's `modified` is written in the session's zone (UTC): the same instant, written without a zone
  const sinceUtc = since.replace('T', ' ').replace('Z', '');
  let compared = 0;
  let missing = 0;
  let changed = 0;
  const differing: Comparison['differing'] = [];
  for (let after = 0; ; ) {
    const [rows] = await support.query<(SupportRow & mysql.RowDataPacket)[]>(
      `SELECT contact_id, email_address, display_name, state, tag_list, ltv_text, signup_date, modified > ? AS changed
         FROM contacts WHERE contact_id > ? ORDER BY contact_id LIMIT ${COMPARE_CHUNK}`,
      [sinceUtc, after],
    );
    if (rows.length === 0) break;
    for (const s of rows) {
      const c = customers.get(s.email_address);
      if (!c) {
        missing++;
        continue;
      }
      customers.delete(s.email_address);
      compared++;
      if (c.changed || Number(s.changed) === 1) changed++;
      const fields = differences(c, s);
      if (fields.length > 0) differing.push({ aKey: String(c.id), bKey: String(s.contact_id), fields });
    }
    after = rows.at(-1)!.contact_id;
  }
  missing += customers.size;
  return { compared, missing, differing, changed };
}

// ---------------------------------------------------------------------------------------------------
// listen: true — `sluice serve` woken by PostgreSQL NOTIFY

/** How long changes are driven in the listen measurement (SyncOptions.listenSeconds wins). */
const LISTEN_SECONDS = 30;
/** How often MariaDB is asked, in one query, whether the changes on their way have arrived. */
const LISTEN_POLL_MS = 25;
/** After the last change, how long the changes still on their way are waited for. */
const LISTEN_DRAIN_MS = 20_000;
/** How long `sluice serve` may take to say it listens, and to exit after SIGTERM. */
const SERVE_START_MS = 60_000;
const SERVE_STOP_MS = 120_000;
const LISTEN_FILE = 'crm-sync-listen.yaml';

/** The bench's clock for the listen measurement: epoch milliseconds, sub-millisecond, monotonic. */
const clock = () => performance.timeOrigin + performance.now();

/** `pipelines/crm-sync.yaml` with `listen: true` on the CRM side and no schedule (as the serve-sync test makes it). */
function listeningPipeline(text: string): string {
  const out = text.replace('write: { table: customers }', 'write: { table: customers }\n    listen: true').replace(/^\s*schedule: .*\n/m, '');
  if (!out.includes('listen: true') || /^\s*schedule:/m.test(out)) throw new BenchError(`could not make the listening variant of ${PIPELINE_FILE}: its side a's write line or its schedule line changed`);
  return out;
}

/** One line of `sluice serve --json`, and when the bench read it. */
interface ServeLine {
  event?: string;
  time?: string;
  run?: string;
  tick?: string;
  sides?: SyncSummary['sides'];
  queued?: number;
  error?: string;
  url?: string;
}

interface Serve {
  child: ChildProcess;
  /** Every line it printed. */
  log: string[];
  events: ServeLine[];
  stderr: string;
  /** Its exit code (or the signal that ended it). */
  exited: Promise<number | string | null>;
}

/** `node bin/sluice.js serve <file> --port 0 --json` in `cwd`; resolves once it logs that it listens. */
async function startServe(file: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Serve> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/sluice.js'), 'serve', file, '--port', '0', '--host', '127.0.0.1', '--json'], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const serve: Serve = {
    child,
    log: [],
    events: [],
    stderr: '',
    exited: new Promise((resolve) => child.once('close', (code, signal) => resolve(code ?? signal))),
  };
  let listening: ((url: string) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<string>((resolve, reject) => {
    listening = resolve;
    timer = setTimeout(() => reject(new BenchError(`sluice serve did not say it listens within ${SERVE_START_MS / 1000} s:\n${serve.stderr.trim() || serve.log.join('\n')}`)), SERVE_START_MS);
    child.once('error', (err) => reject(new BenchError(`sluice serve could not be started: ${err.message}`)));
    void serve.exited.then((code) => reject(new BenchError(`sluice serve exited (${String(code)}) before it listened:\n${serve.stderr.trim() || serve.log.join('\n')}`)));
  });
  child.stderr.on('data', (b: Buffer) => {
    if (serve.stderr.length < 100_000) serve.stderr += b.toString('utf8');
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    serve.log.push(text);
    let e: ServeLine;
    try {
      e = JSON.parse(text) as ServeLine;
    } catch {
      return; // not one of its JSON lines
    }
    if (e === null || typeof e !== 'object') return;
    serve.events.push(e);
    if (e.event === 'listening') listening?.(String(e.url));
  });
  try {
    await ready;
  } catch (err) {
    child.kill('SIGKILL');
    await serve.exited;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return serve;
}

/** SIGTERM, then its exit (SIGKILL if it has not exited in SERVE_STOP_MS); its exit code, null when it had to be killed. */
async function stopServe(serve: Serve): Promise<number | string | null> {
  if (serve.child.exitCode !== null || serve.child.signalCode !== null) return serve.exited;
  serve.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SERVE_STOP_MS)));
  const code = await Promise.race([serve.exited, late]);
  clearTimeout(timer);
  if (code !== 'late') return code;
  serve.child.kill('SIGKILL');
  await serve.exited;
  return null;
}

/** The peak RSS of a running process (Linux: VmHWM), or undefined. */
async function peakRssOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return kb ? Number(kb[1]) * 1024 : undefined;
}

/** A customer the listen measurement changes: linked, the same on both sides, not in the conflict queue. */
interface Changeable {
  id: number;
  email: string;
}

/**
 * Up to `n` customers from the start of the table whose mapped values agree with their contact's and
 * that are not waiting in the conflict queue (by customer id or contact_id).
 */
async function changeable(crm: pg.Client, support: mysql.Connection, n: number, queuedA: Set<string>, queuedB: Set<string>): Promise<Changeable[]> {
  const out: Changeable[] = [];
  for (let after = 0; out.length < n; ) {
    const r = await crm.query<CrmRow>(
      `SELECT id, email, full_name, status, array_to_string(tags, ',') AS tags, lifetime_value::text AS ltv,
              to_char(signed_up AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS signup, false AS changed
         FROM customers WHERE id > $1 ORDER BY id LIMIT ${Math.max(1000, 2 * n)}`,
      [after],
    );
    if (r.rows.length === 0) break;
    after = r.rows.at(-1)!.id;
    const [contacts] = await support.query<(SupportRow & mysql.RowDataPacket)[]>(
      'SELECT contact_id, email_address, display_name, state, tag_list, ltv_text, signup_date, 0 AS changed FROM contacts WHERE email_address IN (?)',
      [r.rows.map((c) => c.email)],
    );
    const byEmail = new Map(contacts.map((s) => [s.email_address, s]));
    for (const c of r.rows) {
      const s = byEmail.get(c.email);
      if (!s || queuedA.has(String(c.id)) || queuedB.has(String(s.contact_id)) || differences(c, s).length > 0) continue;
      out.push({ id: c.id, email: c.email });
      if (out.length === n) break;
    }
  }
  return out;
}

/** One change made in the CRM: when it was committed, and when the bench saw it in MariaDB. */
interface Change {
  marker: string;
  customer: Changeable;
  committedAt: number;
  arrivedAt?: number;
}

/** A sync `sluice serve` ran, from its log: started at its run id's time (after opening staging and taking the lock), ended at its tick. */
interface WokenSync {
  run: string;
  startedAt: number;
  endedAt: number;
  writtenA: number;
  writtenB: number;
  queued: number;
}

interface Listen {
  /** How long the changes were driven, and how far apart they were meant to be. */
  seconds: number;
  intervalMs: number;
  /** Customers taken for it (one is changed again only after its last change arrived). */
  customers: number;
  changes: number;
  arrived: number;
  /** Moments a change was due and no customer was free. */
  skipped: number;
  /** Latency of every change (commit in PostgreSQL → seen in MariaDB), sorted; Infinity for those that never arrived. */
  latencyMs: number[];
  /** For each arrived change: from its commit to the start of the sync that carried it, and from that start to its arrival. */
  waitMs: number[];
  carryMs: number[];
  syncs: WokenSync[];
  failures: string[];
  exitCode: number | string | null;
  peakRssBytes?: number;
}

/** The p-quantile (nearest rank) of sorted numbers. */
function quantile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const runIdTime = (run: string) => parseInt(run.replace(/-/g, '').slice(0, 12), 16);

/**
 * Serves the listening pipeline and changes one customer's `full_name` to a unique marker every
 * `intervalMs` for `seconds`, while one query every LISTEN_POLL_MS asks MariaDB which of the markers on
 * their way its contacts show; then waits up to LISTEN_DRAIN_MS for the rest and stops the server.
 */
async function listenLatency(o: {
  file: string;
  work: string;
  env: NodeJS.ProcessEnv;
  crm: pg.Client;
  support: mysql.Connection;
  customers: Changeable[];
  seconds: number;
  intervalMs: number;
}): Promise<Listen> {
  const serve = await startServe(o.file, o.work, o.env);
  const free = [...o.customers];
  const changes: Change[] = [];
  const pending = new Map<string, Change>(); // by email
  let skipped = 0;
  let driving = true;
  let drainUntil = Infinity;
  let pollError: unknown;
  let exitCode: number | string | null = null;
  let peakRssBytes: number | undefined;
  let drivenMs = 0;
  const poller = (async () => {
    while (driving || (pending.size > 0 && clock() < drainUntil)) {
      if (pending.size > 0) {
        const [rows] = await o.support.query<({ email_address: string; display_name: string | null } & mysql.RowDataPacket)[]>(
          'SELECT email_address, display_name FROM contacts WHERE email_address IN (?)',
          [[...pending.keys()]],
        );
        const seen = clock();
        for (const r of rows) {
          const c = pending.get(r.email_address);
          if (!c || r.display_name !== c.marker) continue;
          c.arrivedAt = seen;
          pending.delete(r.email_address);
          free.push(c.customer);
        }
      }
      await sleep(LISTEN_POLL_MS);
    }
  })().catch((err: unknown) => {
    pollError = err;
  });
  try {
    const total = Math.round((o.seconds * 1000) / o.intervalMs);
    const tag = Date.now().toString(36);
    const started = clock();
    for (let i = 0; i < total && pollError === undefined; i++) {
      const wait = started + i * o.intervalMs - clock();
      if (wait > 0) await sleep(wait);
      const customer = free.shift();
      if (!customer) {
        skipped++;
        continue;
      }
      const marker = `listen ${tag} #${i}`;
      await o.crm.query('UPDATE customers SET full_name = $1 WHERE id = $2', [marker, customer.id]);
      const change: Change = { marker, customer, committedAt: clock() };
      changes.push(change);
      pending.set(customer.email, change);
    }
    drivenMs = clock() - started;
  } finally {
    drainUntil = clock() + LISTEN_DRAIN_MS;
    driving = false;
    await poller;
    peakRssBytes = await peakRssOf(serve.child.pid);
    exitCode = await stopServe(serve);
    await writeFile(join(o.work, 'serve-listen.log'), `${serve.log.join('\n')}\n${serve.stderr}`).catch(() => undefined);
  }
  if (pollError !== undefined) throw pollError;

  const syncs: WokenSync[] = serve.events
    .filter((e) => e.event === 'sync' && typeof e.run === 'string' && e.sides)
    .map((e) => ({
      run: e.run!,
      startedAt: runIdTime(e.run!),
      endedAt: Date.parse(e.time ?? e.tick ?? ''), // the line is logged when the sync ends; its tick is when it was asked for
      writtenA: e.sides!.a.created + e.sides!.a.updated + e.sides!.a.deleted,
      writtenB: e.sides!.b.created + e.sides!.b.updated + e.sides!.b.deleted,
      queued: e.queued ?? 0,
    }))
    .sort((x, y) => x.startedAt - y.startedAt);
  const waitMs: number[] = [];
  const carryMs: number[] = [];
  for (const c of changes) {
    if (c.arrivedAt === undefined) continue;
    // the sync that carried it: the last one started before the marker was seen
    const carrier = syncs.filter((s) => s.startedAt <= c.arrivedAt!).at(-1);
    if (!carrier) continue;
    waitMs.push(carrier.startedAt - c.committedAt);
    carryMs.push(c.arrivedAt - carrier.startedAt);
  }
  const byNumber = (x: number, y: number) => x - y;
  return {
    seconds: drivenMs / 1000,
    intervalMs: o.intervalMs,
    customers: o.customers.length,
    changes: changes.length,
    arrived: changes.filter((c) => c.arrivedAt !== undefined).length,
    skipped,
    latencyMs: changes.map((c) => (c.arrivedAt === undefined ? Infinity : c.arrivedAt - c.committedAt)).sort(byNumber),
    waitMs: waitMs.sort(byNumber),
    carryMs: carryMs.sort(byNumber),
    syncs,
    failures: serve.events.filter((e) => e.event === 'run-failed').map((e) => `${e.time ?? ''} ${e.error ?? ''}`),
    exitCode,
    peakRssBytes,
  };
}

// ---------------------------------------------------------------------------------------------------
// The benchmark

const written = (s: SluiceSync['summary'], id: 'a' | 'b') => s.sides[id].created + s.sides[id].updated + s.sides[id].deleted;

export async function syncBenchmark(o: SyncOptions): Promise<Report> {
  const crmUrl = databaseUrl(o.pg, CRM_DB);
  const supportUrl = databaseUrl(o.mysql, SUPPORT_DB);
  const stagingUrl = databaseUrl(o.pg, STAGE_DB);
  const env = { CRM_URL: crmUrl, SUPPORT_URL: supportUrl, SLUICE_STAGING_URL: stagingUrl };
  const { setup, edit, drop } = fixture();
  const admin = await connect(o.pg);
  const mysqlAdmin = await connectMysql(o.mysql).catch(async (err: unknown) => {
    await admin.end();
    throw err;
  });
  const work = await mkdtemp(join(tmpdir(), 'sluice-bench-sync-'));
  try {
    await recreateDatabase(admin, STAGE_DB);
    await drop({ crmUrl, supportUrl }); // what a --keep run left, contacts_ceiling with it
    const n = o.rows.toLocaleString('en-US');
    const loaded = await step(`setup: ${n} customers, all of them also contacts (+${Math.round(o.rows * 0.1).toLocaleString('en-US')} contacts only)`, () =>
      setup({ crmUrl, supportUrl, rows: o.rows, overlap: 1, seed: SEED }),
    );

    const first = await step('sluice sync, first run (links by email)', () => sluiceSync(PIPELINE_FILE, work, env));

    const crm = await connect(crmUrl);
    const support = await connectMysql(supportUrl);
    try {
      // the moment before the edit, on the CRM's clock (the trigger stamps updated_at with it)
      const since = (await crm.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`)).rows[0]!.t;
      const edited = await step(`edit: ${EDIT_FRACTION * 100}% of the rows on each side`, () => edit({ crmUrl, supportUrl, fraction: EDIT_FRACTION, seed: EDIT_SEED }));

      await step(`ceiling: copying contacts to ${CEILING_TABLE} (not timed)`, () => prepareCeiling(support));
      const ceil = await step(`ceiling: changed customers → ${CEILING_TABLE}, batches of ${CEILING_BATCH}, one direction`, () => ceiling(crmUrl, supportUrl, since));

      const measured = await step('sluice sync, measured run (both directions)', () => sluiceSync(PIPELINE_FILE, work, env));
      const comparison = await step('comparing both sides (mapped values, every record)', () => compareSides(crm, support, since));
      const conflicts = (await sluiceJson<SyncConflict[]>(['conflicts', 'list', PIPELINE_FILE, '--json', '--limit', '100000000'], work, env)).filter((c) => c.status === 'open');
      const noChange = await step('sluice sync, nothing changed', () => sluiceSync(PIPELINE_FILE, work, env));

      const queuedA = new Set(conflicts.map((c) => c.aKey).filter((k): k is string => k !== null));
      const queuedB = new Set(conflicts.map((c) => c.bKey).filter((k): k is string => k !== null));
      const inQueue = (d: Comparison['differing'][number]) => queuedA.has(d.aKey) || queuedB.has(d.bKey);
      const differingOutside = comparison.differing.filter((d) => !inQueue(d));

      // listen: true, on the same databases, after the run with nothing changed
      const listenSeconds = o.listenSeconds ?? LISTEN_SECONDS;
      const intervalMs = 60_000 / TARGETS.listenChangesPerMinute;
      const listenFile = join(work, LISTEN_FILE);
      await writeFile(listenFile, listeningPipeline(await readFile(PIPELINE_FILE, 'utf8')));
      const pool = await changeable(crm, support, Math.round((listenSeconds * 1000) / intervalMs), queuedA, queuedB);
      if (pool.length === 0) throw new BenchError('listen: no customer is the same on both sides and outside the conflict queue, so none can be changed');
      const listen = await step(
        `sluice serve, listen: true: ${TARGETS.listenChangesPerMinute.toLocaleString('en-US')} changes/min in ${measured.summary.sides.a.name} for ${listenSeconds} s, each awaited in ${measured.summary.sides.b.name}`,
        () => listenLatency({ file: listenFile, work, env, crm, support, customers: pool, seconds: listenSeconds, intervalMs }),
      );

      const m = measured.summary;
      const rate = (x: Measured) => x.rows / x.seconds;
      const ceilingRate = rate(ceil);
      const dir = {
        aToB: { rows: written(m, 'b'), seconds: measured.seconds, peakRssBytes: measured.peakRssBytes },
        bToA: { rows: written(m, 'a'), seconds: measured.seconds, peakRssBytes: measured.peakRssBytes },
      };
      const ratio = (x: Measured) => rate(x) / ceilingRate;
      const row = (path: string, x: Measured): Row => ({ path, rows: x.rows, seconds: x.seconds, rowsPerSecond: rate(x), ratioToCeiling: ratio(x), peakRssBytes: x.peakRssBytes });
      const a = m.sides.a.name;
      const b = m.sides.b.name;
      const firstRun = { rows: first.summary.links, seconds: first.seconds, peakRssBytes: first.peakRssBytes };
      const idle = { rows: noChange.summary.links, seconds: noChange.seconds, peakRssBytes: noChange.peakRssBytes };
      const rows: Row[] = [
        { path: `ceiling: ${a} → ${b} changed rows, upsert ×${CEILING_BATCH} (one direction)`, rows: ceil.rows, seconds: ceil.seconds, rowsPerSecond: ceilingRate, ratioToCeiling: 1 },
        row(`sluice sync, first run: links made (no target)`, firstRun),
        row(`sluice sync ${a} → ${b} (records written to ${b})`, dir.aToB),
        row(`sluice sync ${b} → ${a} (records written to ${a})`, dir.bToA),
        row('sluice sync, both directions', measured),
        row(`sluice sync, nothing changed (rows: links)`, idle),
        row(`sluice serve, listen: true: changes seen in ${b}, 1 per ${intervalMs} ms (no ceiling)`, { rows: listen.arrived, seconds: listen.seconds, peakRssBytes: listen.peakRssBytes }),
      ];
      const listenP99 = quantile(listen.latencyMs, 0.99);
      const peakMiB = Math.max(first.peakRssBytes ?? 0, measured.peakRssBytes ?? 0, noChange.peakRssBytes ?? 0) / 2 ** 20;
      const targets: Target[] = [
        { name: `${a} → ${b} ≥ ${TARGETS.ratioToCeiling}× ceiling records/s`, pass: ratio(dir.aToB) >= TARGETS.ratioToCeiling, actual: `${ratio(dir.aToB).toFixed(2)}× (${Math.round(rate(dir.aToB)).toLocaleString('en-US')} vs ${Math.round(ceilingRate).toLocaleString('en-US')} records/s)` },
        { name: `${b} → ${a} ≥ ${TARGETS.ratioToCeiling}× ceiling records/s`, pass: ratio(dir.bToA) >= TARGETS.ratioToCeiling, actual: `${ratio(dir.bToA).toFixed(2)}× (${Math.round(rate(dir.bToA)).toLocaleString('en-US')} vs ${Math.round(ceilingRate).toLocaleString('en-US')} records/s)` },
        { name: `run with nothing changed over ${noChange.summary.links.toLocaleString('en-US')} links < ${TARGETS.noChangeSeconds} s`, pass: noChange.seconds < TARGETS.noChangeSeconds, actual: `${noChange.seconds.toFixed(2)} s` },
        {
          name: `listen: true, a change reaches the other side in < ${TARGETS.listenP99Seconds} s at p99 with ${TARGETS.listenChangesPerMinute.toLocaleString('en-US')} changes/min`,
          pass: listenP99 < TARGETS.listenP99Seconds * 1000,
          actual:
            `p99 ${secs(listenP99)} (p50 ${secs(quantile(listen.latencyMs, 0.5))}, max ${secs(listen.latencyMs.at(-1) ?? NaN)}; ` +
            `${listen.arrived.toLocaleString('en-US')} of ${listen.changes.toLocaleString('en-US')} changes arrived, over ${listen.seconds.toFixed(1)} s)`,
        },
      ];
      const links = loaded.contacts; // every contact: the shared ones linked by email, the others created in the CRM
      const checks: Check[] = [
        { name: 'setup: people on both sides (overlap 1)', expected: o.rows, actual: loaded.shared },
        { name: 'first run: links (shared people + support-only contacts created in the CRM)', expected: links, actual: first.summary.links },
        { name: `first run: support-only contacts created in ${a}`, expected: loaded.contacts - loaded.customers, actual: first.summary.sides.a.created },
        { name: `ceiling: rows read (= customers edited)`, expected: edited.customers, actual: ceil.rows },
        { name: `ceiling: rows inserted instead of updated`, expected: 0, actual: ceil.inserted },
        { name: 'measured run: links (no duplicate, nothing lost)', expected: links, actual: m.links },
        { name: 'after the measured run: people on one side only', expected: 0, actual: comparison.missing },
        { name: 'after the measured run: people compared on both sides', expected: links, actual: comparison.compared },
        { name: 'after the measured run: records whose mapped values differ, outside the conflict queue', expected: 0, actual: differingOutside.length },
        { name: 'run with nothing changed: records written', expected: 0, actual: noChange.rows },
        { name: 'run with nothing changed: new conflicts', expected: 0, actual: noChange.summary.sides.a.conflicts + noChange.summary.sides.b.conflicts },
        { name: `listen: changes made in ${a} (one every ${intervalMs} ms for ${listenSeconds} s)`, expected: Math.round((listenSeconds * 1000) / intervalMs), actual: listen.changes },
        { name: `listen: changes seen in ${b} (within ${LISTEN_DRAIN_MS / 1000} s of the last)`, expected: listen.changes, actual: listen.arrived },
        { name: 'listen: woken syncs that failed', expected: 0, actual: listen.failures.length },
        { name: 'listen: sluice serve exit code after SIGTERM', expected: 0, actual: typeof listen.exitCode === 'number' ? listen.exitCode : -1 },
      ];
      const conflictFields: Record<string, number> = {};
      for (const c of conflicts) for (const f of c.fields) conflictFields[f] = (conflictFields[f] ?? 0) + 1;
      const notes = [
        `edited: ${edited.customers.toLocaleString('en-US')} customers, ${edited.contacts.toLocaleString('en-US')} contacts; ${comparison.changed.toLocaleString('en-US')} people changed on a side after the edit and the sync`,
        `measured run: ${a} ← ${m.sides.a.updated.toLocaleString('en-US')} updated, ${m.sides.a.created} created, ${m.sides.a.deleted} deleted; ` +
          `${b} ← ${m.sides.b.updated.toLocaleString('en-US')} updated, ${m.sides.b.created} created, ${m.sides.b.deleted} deleted; ` +
          `skipped ${m.sides.a.skipped.toLocaleString('en-US')} / ${m.sides.b.skipped.toLocaleString('en-US')}, failed ${m.sides.a.failed} / ${m.sides.b.failed}`,
        `conflicts: ${(m.sides.a.conflicts + m.sides.b.conflicts).toLocaleString('en-US')} records had a field changed on both sides; ` +
          `${(m.sides.a.queued + m.sides.b.queued).toLocaleString('en-US')} queued this run, ${m.queued.toLocaleString('en-US')} open in the queue ` +
          `(fields: ${Object.entries(conflictFields).map(([f, k]) => `${f} ${k}`).join(', ') || 'none'}); ` +
          `${(comparison.differing.length - differingOutside.length).toLocaleString('en-US')} records differ while they wait`,
        `peak RSS of the sluice processes: first ${mib(first.peakRssBytes)}, measured ${mib(measured.peakRssBytes)}, nothing changed ${mib(noChange.peakRssBytes)} (max ${peakMiB.toFixed(0)} MiB)`,
        `sluice durationMs (in-process, without node start-up): first ${first.summary.durationMs}, measured ${m.durationMs}, nothing changed ${noChange.summary.durationMs}`,
        ...listenNotes(listen, a, b),
      ];
      return {
        benchmark: 'sync',
        at: new Date().toISOString(),
        options: {
          rows: o.rows,
          pg: redact(o.pg),
          mysql: redact(o.mysql),
          editFraction: EDIT_FRACTION,
          ceilingBatch: CEILING_BATCH,
          listenSeconds,
          listenChangesPerMinute: TARGETS.listenChangesPerMinute,
          listenPollMs: LISTEN_POLL_MS,
        },
        environment: { ...(await environment(admin)), mariadb: await mysqlVersion(mysqlAdmin) },
        rows,
        targets,
        checks,
        details: {
          notes,
          setup: loaded,
          edited,
          ceiling: ceil,
          since,
          conflictsOpen: conflicts.length,
          conflictFields,
          differing: { total: comparison.differing.length, outsideQueue: differingOutside.slice(0, 20) },
          first: first.summary,
          measured: m,
          noChange: noChange.summary,
          listen: {
            ...listen,
            latencyMs: listen.latencyMs.map((x) => (Number.isFinite(x) ? Math.round(x) : null)),
            waitMs: listen.waitMs.map(Math.round),
            carryMs: listen.carryMs.map(Math.round),
            syncs: listen.syncs.map((s) => ({ ...s, startedAt: new Date(s.startedAt).toISOString(), endedAt: new Date(s.endedAt).toISOString(), ms: s.endedAt - s.startedAt })),
          },
        },
      };
    } finally {
      await crm.end();
      await support.end();
    }
  } finally {
    if (o.keep) {
      process.stderr.write(
        `kept: databases ${CRM_DB} and ${STAGE_DB} (PostgreSQL), ${SUPPORT_DB} (MariaDB, with ${CEILING_TABLE}); to sync again:\n` +
          `  cd ${work} && CRM_URL=${redact(crmUrl)} SUPPORT_URL=${redact(supportUrl)} SLUICE_STAGING_URL=${redact(stagingUrl)} node ${join(ROOT, 'bin/sluice.js')} sync ${PIPELINE_FILE}\n`,
      );
    } else {
      await drop({ crmUrl, supportUrl }).catch((err: unknown) => process.stderr.write(`could not drop the benchmark's databases: ${err instanceof Error ? err.message : String(err)}\n`));
      await dropDatabase(admin, STAGE_DB);
      await rm(work, { recursive: true, force: true });
    }
    await mysqlAdmin.end();
    await admin.end();
  }
}

/** Milliseconds as seconds, two decimals; a change that never arrived as "never". */
function secs(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : Number.isNaN(ms) ? '–' : 'never';
}

/** Where a listened change's time goes: the woken syncs, how long each took, the wait before the one that carried it. */
function listenNotes(l: Listen, a: string, b: string): string[] {
  const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : Number.isNaN(x) ? '–' : 'never');
  const spread = (sorted: number[]) => `p50 ${ms(quantile(sorted, 0.5))}, p99 ${ms(quantile(sorted, 0.99))}, max ${ms(sorted.at(-1) ?? NaN)}`;
  const durations = l.syncs.map((s) => s.endedAt - s.startedAt).sort((x, y) => x - y);
  const gaps = l.syncs.slice(1).map((s, i) => s.startedAt - l.syncs[i]!.endedAt).sort((x, y) => x - y);
  const sum = (f: (s: WokenSync) => number) => l.syncs.reduce((n, s) => n + f(s), 0).toLocaleString('en-US');
  return [
    `listen: ${l.changes.toLocaleString('en-US')} changes to ${a}.full_name (${l.customers.toLocaleString('en-US')} customers the same on both sides, outside the conflict queue), ` +
      `${l.arrived.toLocaleString('en-US')} seen in ${b} (polled every ${LISTEN_POLL_MS} ms)${l.skipped > 0 ? `, ${l.skipped} moments skipped for want of a customer whose last change had arrived` : ''}; ` +
      `latency from the UPDATE's commit to the marker seen in ${b}: ${spread(l.latencyMs)}`,
    `listen: ${l.syncs.length} woken syncs wrote ${sum((s) => s.writtenB)} records to ${b} and ${sum((s) => s.writtenA)} to ${a}; ` +
      `each took ${spread(durations)} (from its run id, i.e. after opening staging and taking the lock, to its end); ` +
      `between one's end and the next one's run id: ${spread(gaps)} (serve's 100 ms debounce, opening staging, taking the lock)`,
    `listen: per change, commit → start of the sync that carried it ${spread(l.waitMs)}; that start → seen in ${b} ${spread(l.carryMs)}` +
      `${l.failures.length > 0 ? `; failed syncs: ${l.failures.slice(0, 3).join(' | ')}` : ''}; serve exit ${String(l.exitCode)}, peak RSS ${mib(l.peakRssBytes)}`,
  ];
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '–' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
