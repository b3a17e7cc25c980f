/**
 * The database servers the integration tests use, and per-test-file scratch databases on them.
 * `global-setup.ts` probes the servers once and loads Chinook; tests read the verdict from the
 * environment. A test that needs a server that is down is skipped with a message saying so — unless
 * `SLUICE_REQUIRE_SERVICES=1` (set by `.ci/run`), in which case global setup fails the whole run.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.SLUICE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.SLUICE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const CHINOOK_DB = 'sluice_chinook';

export type Service = 'postgres' | 'mysql';

const STATUS_VAR: Record<Service, string> = { postgres: 'SLUICE_TEST_PG_STATUS', mysql: 'SLUICE_TEST_MYSQL_STATUS' };

export function serviceStatus(service: Service): string {
  return process.env[STATUS_VAR[service]] ?? 'unknown (global setup did not run)';
}

export function setServiceStatus(service: Service, status: string): void {
  process.env[STATUS_VAR[service]] = status;
}

export function isUp(service: Service): boolean {
  return serviceStatus(service) === 'up';
}

/** `describe` that runs only when the service is up, and says why when it is skipped. */
export function describeWith(service: Service, name: string, fn: () => void): void {
  if (isUp(service)) {
    describe(name, fn);
  } else {
    describe.skip(`${name} [skipped: ${service} ${serviceStatus(service)}]`, fn);
    console.warn(`SKIPPED "${name}": ${service} is not available (${serviceStatus(service)})`);
  }
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export const chinookUrl = (service: Service) => withDatabase(service === 'postgres' ? PG_ADMIN_URL : MYSQL_ADMIN_URL, CHINOOK_DB);

/**
 * A scratch database left behind by a killed test run: named by an older run (over two hours ago, from
 * the creation time in its name). Younger ones may belong to a test run going on beside this one.
 */
export function isStaleScratch(name: string, now = Date.now()): boolean {
  const m = /^sluice_t_([0-9a-z]+)_[0-9a-f]+$/.exec(name);
  if (!m) return name.startsWith('sluice_t_'); // the older naming, without a time
  return now / 1000 - parseInt(m[1]!, 36) > 2 * 3600;
}

/** A staging store for one test: its URL, and how to take it away. */
export type StagingBackend = [name: string, make: () => Promise<{ url: string; done(): Promise<void> }>];

/**
 * The staging stores a test runs on: an SQLite file in `dir()`, and a scratch PostgreSQL database when
 * the server is up (otherwise a skipped test named `what` says why, and CI makes that a failure).
 */
export function stagingBackends(dir: () => string, what: string): StagingBackend[] {
  const backends: StagingBackend[] = [['sqlite', async () => ({ url: `sqlite:${join(dir(), 'staging.db')}`, done: async () => undefined })]];
  if (isUp('postgres')) {
    backends.push([
      'postgres',
      async () => {
        const db = await scratchDatabase('postgres');
        return { url: db.url, done: db.drop };
      },
    ]);
  } else {
    test.skip(`${what} on postgres [skipped: postgres ${serviceStatus('postgres')}]`, () => undefined);
  }
  return backends;
}

export interface ScratchDb {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database for one test file; `drop()` removes it. */
export async function scratchDatabase(service: Service): Promise<ScratchDb> {
  const name = `sluice_t_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(4).toString('hex')}`;
  if (service === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return {
      name,
      url: withDatabase(PG_ADMIN_URL, name),
      drop: async () => {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const admin = await mysql.createConnection(MYSQL_ADMIN_URL);
  await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await admin.end();
  return {
    name,
    url: withDatabase(MYSQL_ADMIN_URL, name),
    drop: async () => {
      const c = await mysql.createConnection(MYSQL_ADMIN_URL);
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    },
  };
}
