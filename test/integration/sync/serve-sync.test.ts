// `sluice serve` runs sync pipelines: on their schedule, and — with `listen: true` on a PostgreSQL side —
// as soon as a change is notified, so an edit reaches the other side in about a second.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { setup } from '../../../fixtures/crm/setup';
import { loadPipeline } from '../../../src/run/pipeline';
import { Service, type ServeEvent } from '../../../src/run/serve';
import { runSync } from '../../../src/run/sync';
import { REPO } from '../../helpers/cli-sluice';
import { describeWith, isUp, scratchDatabase, type ScratchDb } from '../../helpers/services';
import { contacts, sqliteSync } from '../../helpers/sync-sqlite';

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a sync pipeline with a schedule is run by serve on it', async () => {
  const s = sqliteSync({ name: 'scheduled-sync', extra: '  schedule: "* * * * * *"\n' });
  const events: ServeEvent[] = [];
  const service = await Service.open([s.pipeline], { stagingUrl: s.staging, alertIntervalMs: 0, log: (e) => events.push(e) });
  try {
    service.startSchedules();
    s.a.prepare('INSERT INTO people (name, status, score, updated_at) VALUES (?, ?, ?, ?)').run('On time', 'active', 1, s.tick());
    await until('the scheduled sync', async () => (contacts(s).some((c) => c.display_name === 'On time') ? true : undefined));
    expect(events.some((e) => e.type === 'sync')).toBe(true);
  } finally {
    await service.close();
    s.close();
  }
}, 20_000);

const describeBoth = isUp('postgres') ? describeWith : (_s: string, name: string, fn: () => void) => describeWith('postgres', name, fn);

describeBoth('mysql', 'listen: true', () => {
  let crm: ScratchDb;
  let support: ScratchDb;
  beforeAll(async () => {
    [crm, support] = await Promise.all([scratchDatabase('postgres'), scratchDatabase('mysql')]);
    await setup({ crmUrl: crm.url, supportUrl: support.url, rows: 200, overlap: 1, seed: 3 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([crm?.drop(), support?.drop()]);
  });

  test('a change in PostgreSQL reaches MariaDB within two seconds, without waiting for a schedule; Sluice\'s own writes do not wake it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-listen-'));
    const file = join(dir, 'crm-listen.yaml');
    writeFileSync(file, readFileSync(join(REPO, 'pipelines', 'crm-sync.yaml'), 'utf8').replace('write: { table: customers }', 'write: { table: customers }\n    listen: true').replace(/schedule: .*\n/, ''));
    const env = { CRM_URL: crm.url, SUPPORT_URL: support.url };
    const staging = `sqlite:${join(dir, 'staging.db')}`;
    const pipeline = loadPipeline(file, env);
    await runSync(pipeline, { env, stagingUrl: staging });
    const events: ServeEvent[] = [];
    const service = await Service.open([pipeline], { env, stagingUrl: staging, alertIntervalMs: 0, log: (e) => events.push(e) });
    const pgc = new pg.Client({ connectionString: crm.url });
    const my = await mysql.createConnection(support.url);
    try {
      await pgc.connect();
      await service.startListeners();
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const name = `Listened ${i}`;
        const started = Date.now();
        await pgc.query(`UPDATE customers SET full_name = $1 WHERE id = $2`, [name, 10 + i]);
        await until(`${name} in MariaDB`, async () => {
          const [rows] = await my.query<mysql.RowDataPacket[]>('SELECT 1 FROM contacts WHERE display_name = ?', [name]);
          return rows.length > 0 ? true : undefined;
        });
        latencies.push(Date.now() - started);
      }
      expect(Math.max(...latencies)).toBeLessThan(2000);
      // a change in MariaDB rides along with the next woken run, which writes it to PostgreSQL: that write
      // is Sluice's own, so it wakes no further run
      const runs = () => events.filter((e) => e.type === 'sync').length;
      const [[desk]] = await my.query<mysql.RowDataPacket[]>('SELECT min(contact_id) AS id FROM contacts');
      await my.query(`UPDATE contacts SET display_name = 'From the desk' WHERE contact_id = ?`, [desk!.id]);
      await new Promise((r) => setTimeout(r, 1000)); // the runs woken above are over
      const before = runs();
      await pgc.query(`UPDATE customers SET full_name = 'Wake up' WHERE id = 20`);
      await until('the desk change in PostgreSQL', async () => ((await pgc.query(`SELECT 1 FROM customers WHERE full_name = 'From the desk'`)).rowCount ? true : undefined));
      await until('the woken run to end', async () => (runs() > before ? true : undefined));
      const settled = runs();
      await new Promise((r) => setTimeout(r, 1000));
      expect(runs()).toBe(settled);
    } finally {
      await service.close();
      await pgc.end();
      await my.end();
    }
  }, 60_000);
});
