// PostgreSQL staging sessions ask for compressed full-page images (scattered upserts log mostly whole
// pages): a superuser's session gets them; a user who may not set it keeps the server's setting, with
// no error and a connection that works.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { compressFullPages } from '../../../src/stage/postgres';
import { describeWith, PG_ADMIN_URL } from '../../helpers/services';

async function sessionSetting(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await new Promise<void>((resolve, reject) => compressFullPages(client, (err) => (err ? reject(err) : resolve())));
    return (await client.query<{ wal_compression: string }>('SHOW wal_compression')).rows[0]!.wal_compression;
  } finally {
    await client.end();
  }
}

describeWith('postgres', 'full-page images on PostgreSQL staging sessions', () => {
  const role = `sluice_t_plain_${randomBytes(3).toString('hex')}`;
  let admin: pg.Client;
  let serverSetting: string;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    serverSetting = (await admin.query<{ setting: string }>(`SELECT setting FROM pg_settings WHERE name = 'wal_compression'`)).rows[0]!.setting;
  });
  afterAll(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  test('a superuser session compresses them', async () => {
    expect(await sessionSetting(PG_ADMIN_URL)).not.toBe('off');
  });

  test('a session that may not set it keeps the server setting, and works', async () => {
    const url = new URL(PG_ADMIN_URL);
    url.username = role;
    expect(await sessionSetting(url.toString())).toBe(serverSetting);
  });
});
