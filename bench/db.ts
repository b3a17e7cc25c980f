/**
 * The PostgreSQL server the benchmarks run against: checking it (and psql) can be reached, and
 * creating and dropping the benchmark's own databases on it.
 */
import { cpus, totalmem } from 'node:os';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { BenchError, run } from './measure';

/** The same server and credentials as `url`, another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** `url` with its password hidden, for messages and results. */
export function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'sluice-bench', connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a dropped connection surfaces through the pending query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new BenchError(`PostgreSQL is not reachable at ${redact(url)}: ${err instanceof Error ? err.message : String(err)}\n  start it, or pass --pg postgres://user:password@host:port/database`);
  }
  return client;
}

/** Fails clearly unless psql is installed and can connect with `url`. */
export async function checkPsql(url: string): Promise<void> {
  const r = await run('psql', [url, '-X', '-At', '-c', 'select 1'], {}).catch((err: unknown) => {
    throw new BenchError(`psql could not be started (${err instanceof Error ? err.message : String(err)}): install the PostgreSQL client (e.g. apt-get install postgresql-client)`);
  });
  if (r.code !== 0) throw new BenchError(`psql cannot connect to ${redact(url)}:\n${r.stderr.trim()}`);
}

/** Where a benchmark ran: Node, the PostgreSQL server, CPUs and memory. */
export async function environment(admin: pg.Client): Promise<Record<string, string | number>> {
  return {
    node: process.version,
    postgres: await serverVersion(admin),
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
  };
}

export async function serverVersion(client: pg.Client): Promise<string> {
  const r = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  return r.rows[0]!.v;
}

export async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
}

/** Drops `name` if a previous (`--keep`) run left it, and creates it empty. */
export async function recreateDatabase(admin: pg.Client, name: string): Promise<void> {
  await dropDatabase(admin, name);
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
}

/** The databases the data benchmarks (read, export) make and drop: the generated source, and the staging store. */
export const SOURCE_DB = 'sluice_bench_src';
export const STAGE_DB = 'sluice_bench_stage';

/** The options of the data benchmarks. */
export interface DataBenchOptions {
  rows: number;
  pg: string;
  batch: number;
  keep: boolean;
}

/** The MariaDB/MySQL server of the sync benchmark: a connection (UTC, utf8mb4, dates as text) or a clear reason why not. */
export async function connectMysql(url: string): Promise<mysql.Connection> {
  const u = new URL(url);
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username) || 'root',
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.pathname.length > 1 ? { database: decodeURIComponent(u.pathname.slice(1)) } : {}),
      charset: 'utf8mb4_unicode_ci',
      timezone: 'Z',
      dateStrings: true,
      connectTimeout: 10_000,
    });
    conn.on('error', () => undefined); // a dropped connection surfaces through the pending query
    await conn.query("SET time_zone = '+00:00'");
    return conn;
  } catch (err) {
    await conn?.end().catch(() => undefined);
    throw new BenchError(`MariaDB/MySQL is not reachable at ${redact(url)}: ${err instanceof Error ? err.message : String(err)}\n  start it, or pass --mysql mysql://user:password@host:port/`);
  }
}

export async function mysqlVersion(conn: mysql.Connection): Promise<string> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
  return String(rows[0]!.v);
}
