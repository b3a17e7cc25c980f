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
 *  6. checks: after the measured run, every record's mapped values agree on both sides except those
 *     waiting in the conflict queue, and the run with nothing changed writes nothing.
 *
 * `listen: true` (PostgreSQL NOTIFY → `sluice serve`) is not built yet: its target is reported as not
 * measured, and failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type mysql from 'mysql2/promise';
import pg from 'pg';
import type * as CrmFixture from '../fixtures/crm/setup';
import type { SyncConflict } from '../src/stage/sync-store';
import { connect, connectMysql, databaseUrl, dropDatabase, environment, mysqlVersion, recreateDatabase, redact, STAGE_DB } from './db';
import { type Measured, ROOT, sluiceJson, sluiceSync, type SluiceSync, step } from './measure';
import type { Check, Report, Row, Target } from './report';

export interface SyncOptions {
  rows: number;
  pg: string;
  mysql: string;
  keep: boolean;
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
      ];
      const peakMiB = Math.max(first.peakRssBytes ?? 0, measured.peakRssBytes ?? 0, noChange.peakRssBytes ?? 0) / 2 ** 20;
      const targets: Target[] = [
        { name: `${a} → ${b} ≥ ${TARGETS.ratioToCeiling}× ceiling records/s`, pass: ratio(dir.aToB) >= TARGETS.ratioToCeiling, actual: `${ratio(dir.aToB).toFixed(2)}× (${Math.round(rate(dir.aToB)).toLocaleString('en-US')} vs ${Math.round(ceilingRate).toLocaleString('en-US')} records/s)` },
        { name: `${b} → ${a} ≥ ${TARGETS.ratioToCeiling}× ceiling records/s`, pass: ratio(dir.bToA) >= TARGETS.ratioToCeiling, actual: `${ratio(dir.bToA).toFixed(2)}× (${Math.round(rate(dir.bToA)).toLocaleString('en-US')} vs ${Math.round(ceilingRate).toLocaleString('en-US')} records/s)` },
        { name: `run with nothing changed over ${noChange.summary.links.toLocaleString('en-US')} links < ${TARGETS.noChangeSeconds} s`, pass: noChange.seconds < TARGETS.noChangeSeconds, actual: `${noChange.seconds.toFixed(2)} s` },
        {
          name: `listen: true, a change reaches the other side in < ${TARGETS.listenP99Seconds} s at p99 with ${TARGETS.listenChangesPerMinute.toLocaleString('en-US')} changes/min`,
          pass: false,
          actual: 'not measured: listen is not built',
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
      ];
      return {
        benchmark: 'sync',
        at: new Date().toISOString(),
        options: { rows: o.rows, pg: redact(o.pg), mysql: redact(o.mysql), editFraction: EDIT_FRACTION, ceilingBatch: CEILING_BATCH },
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

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '–' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
