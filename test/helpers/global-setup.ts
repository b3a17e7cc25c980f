/**
 * Once per test run: probe PostgreSQL and MariaDB, and load the Chinook sample database into each
 * (idempotent: a database that already holds it is left alone).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { CHINOOK_DB, isStaleScratch, MYSQL_ADMIN_URL, PG_ADMIN_URL, setServiceStatus, withDatabase } from './services';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'chinook');

export default async function globalSetup(): Promise<void> {
  const problems: string[] = [];
  for (const [service, prepare] of [
    ['postgres', preparePostgres],
    ['mysql', prepareMysql],
  ] as const) {
    try {
      await prepare();
      setServiceStatus(service, 'up');
    } catch (err) {
      const reason = `unreachable: ${(err as Error).message || (err as { code?: string }).code}`;
      setServiceStatus(service, reason);
      problems.push(`${service} ${reason}`);
    }
  }
  if (problems.length > 0 && process.env.SLUICE_REQUIRE_SERVICES === '1') {
    throw new Error(`SLUICE_REQUIRE_SERVICES=1 but: ${problems.join('; ')}`);
  }
}

async function preparePostgres(): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    // scratch databases left behind by test runs that were killed; nobody is connected to them, and they
    // are old enough not to belong to a test run going on beside this one
    const stale = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database d WHERE datname LIKE 'sluice\\_t\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
    );
    for (const { datname } of stale.rows.filter((r) => isStaleScratch(r.datname))) await admin.query(`DROP DATABASE IF EXISTS "${datname}"`);
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [CHINOOK_DB]);
    if (exists.rowCount) {
      const db = new pg.Client({ connectionString: withDatabase(PG_ADMIN_URL, CHINOOK_DB) });
      await db.connect();
      const ok = await db.query(`SELECT count(*)::int AS n FROM invoice`).then((r) => r.rows[0].n === 412, () => false);
      await db.end();
      if (ok) return;
      await admin.query(`DROP DATABASE ${CHINOOK_DB} WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE ${CHINOOK_DB} ENCODING 'UTF8' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ connectionString: withDatabase(PG_ADMIN_URL, CHINOOK_DB) });
  await db.connect();
  await db.query(readFileSync(join(FIXTURES, 'postgres.sql'), 'utf8'));
  await db.end();
}

async function prepareMysql(): Promise<void> {
  const admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 5000, multipleStatements: true });
  try {
    const [stale] = await admin.query(
      `SELECT SCHEMA_NAME AS db FROM information_schema.SCHEMATA s WHERE SCHEMA_NAME LIKE 'sluice\\_t\\_%'
          AND NOT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST p WHERE p.DB = s.SCHEMA_NAME)`,
    );
    for (const { db } of (stale as { db: string }[]).filter((r) => isStaleScratch(r.db))) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    const [rows] = await admin.query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'Invoice'`, [CHINOOK_DB]);
    if ((rows as { n: number }[])[0]!.n > 0) {
      const [count] = await admin.query(`SELECT count(*) AS n FROM ${CHINOOK_DB}.Invoice`);
      if ((count as { n: number }[])[0]!.n === 412) return;
    }
    await admin.query(`DROP DATABASE IF EXISTS ${CHINOOK_DB}; CREATE DATABASE ${CHINOOK_DB} CHARACTER SET utf8mb4`);
    await admin.query(`USE ${CHINOOK_DB}`);
    await admin.query({ sql: readFileSync(join(FIXTURES, 'mysql.sql'), 'utf8') });
  } finally {
    await admin.end();
  }
}
