// The shipped example, end to end against the real servers: pipelines/crm-sync.yaml keeps PostgreSQL
// `customers` and MariaDB `contacts` (filled by fixtures/crm/setup.js) in step.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { edit, setup } from '../../../fixtures/crm/setup';
import { isSluiceError } from '../../../src/core/errors';
import { loadPipeline, type Pipeline } from '../../../src/run/pipeline';
import { runSync } from '../../../src/run/sync';
import { listConflicts, resolveConflict } from '../../../src/run/sync-admin';
import { REPO, sluice } from '../../helpers/cli-sluice';
import { describeWith, isUp, scratchDatabase, type ScratchDb } from '../../helpers/services';

const describeBoth = isUp('postgres') ? describeWith : (_s: string, name: string, fn: () => void) => describeWith('postgres', name, fn);

describeBoth('mysql', 'crm-sync: PostgreSQL customers ↔ MariaDB contacts', () => {
  let crm: ScratchDb;
  let support: ScratchDb;
  let dir: string;
  let env: Record<string, string>;
  let pipeline: Pipeline;
  let pgc: pg.Client;
  let my: mysql.Connection;

  beforeAll(async () => {
    [crm, support] = await Promise.all([scratchDatabase('postgres'), scratchDatabase('mysql')]);
    await setup({ crmUrl: crm.url, supportUrl: support.url, rows: 300, overlap: 0.7, seed: 7 });
    dir = mkdtempSync(join(tmpdir(), 'sluice-crm-'));
    env = { CRM_URL: crm.url, SUPPORT_URL: support.url, SLUICE_STAGING_URL: `sqlite:${join(dir, 'staging.db')}` };
    pipeline = loadPipeline(join(REPO, 'pipelines', 'crm-sync.yaml'), env);
    pgc = new pg.Client({ connectionString: crm.url });
    await pgc.connect();
    my = await mysql.createConnection({ uri: support.url, dateStrings: true });
  }, 60_000);

  afterAll(async () => {
    await pgc?.end();
    await my?.end();
    await Promise.all([crm?.drop(), support?.drop()]);
  });

  const sync = () => runSync(pipeline, { env, stagingUrl: env.SLUICE_STAGING_URL });

  /** Every customer and contact by email, in one comparable shape (as the mapping translates them). */
  async function bothSides(): Promise<{ a: Map<string, string>; b: Map<string, string> }> {
    const a = await pgc.query(`SELECT email, full_name, coalesce(status, 'active') AS status, array_to_string(tags, ',') AS tags, lifetime_value::float8 AS ltv FROM customers`);
    const [b] = await my.query<mysql.RowDataPacket[]>(`SELECT email_address, display_name, state, tag_list, ltv_text FROM contacts`);
    const state = { A: 'active', C: 'churned' } as Record<string, string>;
    return {
      a: new Map(a.rows.map((r) => [r.email, JSON.stringify([r.full_name, r.status, r.tags ?? '', r.ltv])])),
      b: new Map(b.map((r) => [r.email_address, JSON.stringify([r.display_name, state[r.state] ?? 'active', r.tag_list ?? '', r.ltv_text === null ? null : Number(r.ltv_text)])])),
    };
  }

  test('the first run links the shared records by email and creates the others on each side, once', async () => {
    const first = await sync();
    expect(first.sides.b.created).toBe(300 - 210); // customers only in the CRM
    expect(first.sides.a.created).toBe(30); // contacts only in the support desk
    expect(first.links).toBe(330);
    const { a, b } = await bothSides();
    expect(a.size).toBe(330);
    expect(b.size).toBe(330);
    for (const [email, values] of a) expect([email, b.get(email)]).toEqual([email, values]);
    const again = await sync();
    expect(again.sides.a.created + again.sides.a.updated + again.sides.b.created + again.sides.b.updated).toBe(0);
    // in step, though the one-way sign-up date is on contacts only for the people the desk created
    const checked = await runSync(pipeline, { env, stagingUrl: env.SLUICE_STAGING_URL, check: 'report' });
    expect(checked.drift).toMatchObject({ links: 330, differing: 0, missing: { a: 0, b: 0 }, unlinked: { a: 0, b: 0 } });
  }, 60_000);

  test('edits on both sides cross over; conflicting fields wait in the queue, status follows the CRM; nothing echoes', async () => {
    await edit({ crmUrl: crm.url, supportUrl: support.url, fraction: 0.1, seed: 11 });
    // the same customer's status changed on both sides, to different values: fieldConflicts says the CRM wins
    const { rows } = await pgc.query(`SELECT email FROM customers WHERE status = 'active' ORDER BY id LIMIT 1`);
    const email = rows[0].email as string;
    await pgc.query(`UPDATE customers SET status = 'churned' WHERE email = $1`, [email]);
    await my.query(`UPDATE contacts SET state = NULL, display_name = concat(coalesce(display_name, ''), ' (desk)') WHERE email_address = ?`, [email]);
    const r = await sync();
    expect(r.sides.a.updated + r.sides.b.updated).toBeGreaterThan(20);
    const [[contact]] = await my.query<mysql.RowDataPacket[]>(`SELECT state, display_name FROM contacts WHERE email_address = ?`, [email]);
    expect(contact!.state).toBe('C');
    const queued = await listConflicts(pipeline, { limit: 1000 }, { env, stagingUrl: env.SLUICE_STAGING_URL });
    const waiting = new Set(queued.map((c) => c.values.a?.email as string));
    const { a, b } = await bothSides();
    for (const [mail, values] of a) if (!waiting.has(mail)) expect([mail, b.get(mail)]).toEqual([mail, values]);
    const quiet = await sync();
    expect(quiet.sides.a.updated + quiet.sides.b.updated + quiet.sides.a.created + quiet.sides.b.created).toBe(0);

    // a person settles every queued conflict for the support desk's values: applied on the next run
    for (const c of queued) await resolveConflict(pipeline, c.id, { take: 'b' }, { env, stagingUrl: env.SLUICE_STAGING_URL });
    await sync();
    expect(await listConflicts(pipeline, { limit: 1000 }, { env, stagingUrl: env.SLUICE_STAGING_URL })).toEqual([]);
    const after = await bothSides();
    for (const [mail, values] of after.a) expect([mail, after.b.get(mail)]).toEqual([mail, values]);
  }, 60_000);

  test('a delete in the support desk deletes the customer; a value the mapping cannot convert waits with the reason', async () => {
    const [[gone]] = await my.query<mysql.RowDataPacket[]>(`SELECT email_address FROM contacts ORDER BY contact_id LIMIT 1`);
    await my.query(`DELETE FROM contacts WHERE email_address = ?`, [gone!.email_address]);
    const [[bad]] = await my.query<mysql.RowDataPacket[]>(`SELECT email_address FROM contacts ORDER BY contact_id DESC LIMIT 1`);
    await my.query(`UPDATE contacts SET ltv_text = 'lots' WHERE email_address = ?`, [bad!.email_address]);
    const r = await sync();
    expect(r.sides.a.deleted).toBe(1);
    expect((await pgc.query(`SELECT 1 FROM customers WHERE email = $1`, [gone!.email_address])).rowCount).toBe(0);
    const queued = await listConflicts(pipeline, { limit: 10 }, { env, stagingUrl: env.SLUICE_STAGING_URL });
    expect(queued).toEqual([expect.objectContaining({ reason: 'transform', fields: ['lifetime_value'], detail: expect.stringContaining('lots') })]);
  }, 60_000);

  test('the CLI: --dry-run prints the plan and writes nothing; a mapping to a missing column names file and line', async () => {
    await pgc.query(`UPDATE customers SET full_name = 'Planned Name' WHERE id = (SELECT min(id) FROM customers)`);
    const plan = await sluice(['sync', join(REPO, 'pipelines', 'crm-sync.yaml'), '--dry-run', '--json'], { cwd: dir, env });
    expect(plan.code).toBe(0);
    const summary = JSON.parse(plan.stdout) as { plan: { b: { updates: { changes: Record<string, unknown> }[] } } };
    expect(summary.plan.b.updates).toContainEqual(expect.objectContaining({ changes: { display_name: [expect.anything(), 'Planned Name'] } }));
    const [[still]] = await my.query<mysql.RowDataPacket[]>(`SELECT count(*) AS n FROM contacts WHERE display_name = 'Planned Name'`);
    expect(Number(still!.n)).toBe(0);

    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(join(REPO, 'pipelines', 'crm-sync.yaml'), 'utf8').replace('b: display_name', 'b: display_nam'));
    const r = await sluice(['sync', broken], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:\d+:\d+ sync\.fields\[1\]\.b: .*display_nam/);
    try {
      await runSync(loadPipeline(broken, env), { env, stagingUrl: env.SLUICE_STAGING_URL, file: broken });
      throw new Error('expected a failure');
    } catch (err) {
      expect(isSluiceError(err) && err.code).toBe('SLUICE_SYNC_COLUMN');
    }
  }, 60_000);
});
