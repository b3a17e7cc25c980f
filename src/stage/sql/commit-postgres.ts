/**
 * One batch into PostgreSQL, in one transaction, then the checkpoint and the run's counts in the same one.
 *
 * - A first load (no record of the stream was staged when the run began, and every batch so far went in
 *   this way) COPYs the batch straight into `sluice_records`; column defaults fill in the rest.
 * - Otherwise, or if that fails (a key already staged, a NULL or duplicate key), the batch is COPYd into
 *   a temporary table, checked (NULL and duplicate keys are refused with their reason), and upserted:
 *   what changed is written (the database hashes the data), and each record that moved to another tenant
 *   leaves a tombstone for the one it left.
 */
import type pg from 'pg';
import { msg } from '../../core/i18n';
import { gathered } from '../../core/chunks';
import { decodeCopyField } from '../../core/copy-text';
import { SluiceError } from '../../core/errors';
import type { Checkpoint } from '../../core/record';
import { freshDeliveries, type Delivery, type IntakeResult } from '../intake';
import { countByTenant, type CommitCounts } from '../store';
import { duplicateInBatch } from './errors';
import { textArray } from './pg-text-array';

export interface PostgresCommit {
  stream: number;
  run: { id: string };
  checkpoint: Checkpoint;
  /** The batch as COPY text lines `tenant, key, cursor, data`. */
  data: readonly Buffer[];
  /** Streams COPY text (the batch's, unless given) into the given `COPY ... FROM STDIN` statement. */
  load(copySql: string, data?: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void>;
  /** Try the first-load path. */
  firstLoad: boolean;
}

/** Pushed deliveries into PostgreSQL: see `StagingStore.intake`. */
export interface PostgresIntake {
  stream: number;
  run: { id: string };
  deliveries: readonly Delivery[];
}

export interface PostgresCommitResult extends CommitCounts {
  /** The batch went in by the first-load path, so the next one may too. */
  firstLoad: boolean;
}

/**
 * What an upsert changes in a record it finds: everything staged, unless nothing differs. In DO UPDATE
 * `r.` is the row as it was, so a record whose tenant changes remembers, in `moved_from`, the one it left.
 */
const UPDATE_RECORD = `
         moved_from = CASE WHEN r.tenant <> excluded.tenant AND r.op = 'upsert' THEN r.tenant END,
         tenant = excluded.tenant, op = excluded.op, data = excluded.data, cursor = excluded.cursor,
         run_id = excluded.run_id, seq = excluded.seq, staged_at = excluded.staged_at,
         refined = NULL, refine_status = NULL, refine_detail = NULL, refine_version = NULL
       WHERE r.hash <> excluded.hash OR r.op <> excluded.op OR r.tenant <> excluded.tenant`;

/** A tombstone for the tenant each record `written` just moved away from (`$1` the stream, `$2` the run). */
const TOMBSTONES = `
       INSERT INTO sluice_tombstones (stream_id, tenant, key, seq, run_id, staged_at)
       SELECT $1, w.moved_from, w.key, nextval('sluice_record_seq'), $2, now() FROM written w WHERE w.moved_from IS NOT NULL
       ON CONFLICT (stream_id, tenant, key) DO UPDATE SET seq = excluded.seq, run_id = excluded.run_id, staged_at = excluded.staged_at`;

const prepared = new WeakSet<pg.Client>();

export async function commitPostgres(client: pg.Client, c: PostgresCommit): Promise<PostgresCommitResult> {
  return inTransaction(client, async () => {
    const direct = c.firstLoad ? await loadDirectly(client, c) : undefined;
    const counts = direct ?? (await mergeIncoming(client, c));
    await finish(client, c.stream, c.run.id, c.checkpoint, counts);
    return { ...counts, firstLoad: direct !== undefined };
  });
}

/** The intake statement (prepared once per connection under this text): see `intakePostgres`. */
const INTAKE_SQL = `WITH incoming AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS i(id, key, tenant, data, ord)),
     first_copies AS (SELECT DISTINCT ON (id) * FROM incoming ORDER BY id, ord),
     recorded AS (
       INSERT INTO sluice_deliveries (stream_id, delivery_id, key, run_id, received_at)
       SELECT $1, id, key, $2, now() FROM first_copies ORDER BY id
       ON CONFLICT DO NOTHING RETURNING delivery_id),
     fresh AS (
       SELECT DISTINCT ON (f.key) f.key, f.tenant, f.data FROM first_copies f JOIN recorded r ON r.delivery_id = f.id
        ORDER BY f.key, f.ord DESC),
     turn AS (SELECT id FROM sluice_streams WHERE id = $1 AND EXISTS (SELECT 1 FROM fresh) FOR UPDATE),
     tenants AS (
       INSERT INTO sluice_tenants (stream_id, tenant) SELECT DISTINCT turn.id, f.tenant FROM fresh f, turn ON CONFLICT DO NOTHING),
     written AS (
       INSERT INTO sluice_records AS r (stream_id, key, tenant, op, data, cursor, run_id, seq, staged_at)
       SELECT turn.id, f.key, f.tenant, 'upsert', f.data, NULL, $2, nextval('sluice_record_seq'), now()
         FROM fresh f, turn
        ORDER BY f.key
       ON CONFLICT (stream_id, key) DO UPDATE SET ${UPDATE_RECORD}
       RETURNING r.key, r.seq, r.moved_from),
     tombstones AS (${TOMBSTONES}
       RETURNING seq),
     raised AS (
       UPDATE sluice_streams SET updated_at = now(),
              high_water = greatest(high_water, (SELECT max(seq) FROM written), (SELECT max(seq) FROM tombstones))
        WHERE id = (SELECT id FROM turn))
     SELECT delivery_id FROM recorded`;

/**
 * Pushed deliveries, in one statement (one round trip, its own transaction), in this order: the delivery
 * ids are recorded (sorted; concurrent intakes of one id queue on it and one records it); then, for the
 * deliveries just recorded, the stream's row is locked — writers of one stream take turns from here, so
 * a change sequence drawn later is committed later and an export up to the high water never passes over
 * rows still being written — then the records (sorted by key) are upserted, tombstones left for records
 * that changed tenant, and the high water raised. Each step reads the one before, which is what orders
 * them inside one statement.
 *
 * The statement is prepared once per connection (planning it took a quarter of a group's time). Its
 * plan stays good however the tables grow, because it looks nothing up by choice of index: every
 * existing row is found through ON CONFLICT, which always uses the unique index it names. (An earlier
 * lookup of the records' previous tenants, planned while the table was small, went on scanning a whole
 * stream per group once it was not.)
 */
export async function intakePostgres(client: pg.Client, c: PostgresIntake): Promise<IntakeResult[]> {
  const d = c.deliveries;
  const recorded = await client.query<{ delivery_id: string }>({
    name: 'sluice_intake',
    text: INTAKE_SQL,
    values: [c.stream, c.run.id, textArray(d.map((x) => x.id)), textArray(d.map((x) => x.record.key)), textArray(d.map((x) => x.record.tenant)), textArray(d.map((x) => x.record.json))],
  });
  return freshDeliveries(d, new Set(recorded.rows.map((r) => r.delivery_id))).results;
}

async function inTransaction<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  if (!prepared.has(client)) {
    await client.query(
      `CREATE TEMP TABLE IF NOT EXISTS sluice_incoming (tenant text, key text, cursor text, data text) ON COMMIT DELETE ROWS`,
    );
    prepared.add(client);
  }
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The stream's checkpoint (unless none is given) and high water, and the run's counts, in the same transaction. */
async function finish(client: pg.Client, stream: number, run: string, checkpoint: Checkpoint | undefined, counts: CommitCounts): Promise<void> {
  await client.query(
    `UPDATE sluice_streams SET checkpoint = coalesce($2, checkpoint), run_id = $3, updated_at = now(),
       high_water = (SELECT last_value FROM sluice_record_seq) WHERE id = $1`,
    [stream, checkpoint === undefined ? null : JSON.stringify(checkpoint), run],
  );
  await client.query(
    `UPDATE sluice_runs SET rows_read = rows_read + $2, rows_staged = rows_staged + $3, rows_unchanged = rows_unchanged + $4 WHERE id = $1`,
    [run, counts.read, counts.staged, counts.unchanged],
  );
}

/**
 * The first-load path: COPY straight into `sluice_records`. Returns undefined (and has written nothing)
 * when the batch cannot go in this way: a delete or a NULL tenant in it, or a key the table already has.
 */
async function loadDirectly(client: pg.Client, c: PostgresCommit): Promise<CommitCounts | undefined> {
  const scan = linesByTenant(c.data);
  if (!scan) return undefined;
  await client.query(`SELECT set_config('sluice.stream', $1, true), set_config('sluice.run', $2, true)`, [String(c.stream), c.run.id]);
  await client.query('SAVEPOINT first_load');
  try {
    // Each tenant's rows go in together, so they share heap pages: an export reads one tenant's rows
    // and, were they spread over the batch, would read nearly every page of the table for each tenant.
    await c.load('COPY sluice_records (tenant, key, cursor, data) FROM STDIN', gathered([...scan.tenants.values()].flat(), COPY_CHUNK));
  } catch {
    // a key already staged, a NULL key or a key twice: the merge path says which, or upserts
    await client.query('ROLLBACK TO SAVEPOINT first_load');
    return undefined;
  }
  await client.query(`INSERT INTO sluice_tenants (stream_id, tenant) SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING`, [
    c.stream,
    [...scan.tenants.keys()],
  ]);
  const byTenant = Object.fromEntries([...scan.tenants].map(([t, lines]) => [t, { read: lines.length, staged: lines.length }]));
  return { read: scan.rows, staged: scan.rows, unchanged: 0, byTenant };
}

/**
 * The lines of a batch of COPY text (each with its line end), by tenant in order of first appearance;
 * undefined if one is a delete or has a NULL tenant. Works on the buffers as they are (a line may span
 * two) and reads only each line's tenant as text.
 */
function linesByTenant(data: readonly Buffer[]): { rows: number; tenants: Map<string, Buffer[]> } | undefined {
  const tenants = new Map<string, Buffer[]>();
  let rows = 0;
  const take = (line: Buffer): boolean => {
    rows++;
    const tenant = decodeCopyField(line.toString('utf8', 0, line.indexOf(TAB)));
    const end = line[line.length - 1] === NEWLINE ? line.length - 1 : line.length;
    const deleted = end >= 3 && line[end - 3] === TAB && line[end - 2] === BACKSLASH && line[end - 1] === N;
    if (tenant === null || deleted) return false;
    const lines = tenants.get(tenant);
    if (lines) lines.push(line);
    else tenants.set(tenant, [line]);
    return true;
  };
  let carry: Buffer | undefined;
  for (const part of data) {
    let pos = 0;
    if (carry) {
      const nl = part.indexOf(NEWLINE);
      if (nl === -1) {
        carry = Buffer.concat([carry, part]);
        continue;
      }
      if (!take(Buffer.concat([carry, part.subarray(0, nl + 1)]))) return undefined;
      carry = undefined;
      pos = nl + 1;
    }
    for (let nl = part.indexOf(NEWLINE, pos); nl !== -1; pos = nl + 1, nl = part.indexOf(NEWLINE, pos)) {
      if (!take(part.subarray(pos, nl + 1))) return undefined;
    }
    if (pos < part.length) carry = part.subarray(pos);
  }
  if (carry && !take(Buffer.concat([carry, LINE_END]))) return undefined;
  return { rows, tenants };
}

/** Lines are sent in COPY messages of about this size, not one message a line. */
const COPY_CHUNK = 64 * 1024;
const NEWLINE = 0x0a;
const LINE_END = Buffer.from('\n');
const TAB = 0x09;
const BACKSLASH = 0x5c;
const N = 0x4e;

/** The merge path: the batch into a temporary table, checked, then upserted with tombstones for moves. */
async function mergeIncoming(client: pg.Client, c: Pick<PostgresCommit, 'stream' | 'run' | 'load'>): Promise<CommitCounts> {
  await c.load('COPY sluice_incoming (tenant, key, cursor, data) FROM STDIN');
  const n = await checkIncoming(client);
  await client.query(
    `INSERT INTO sluice_tenants (stream_id, tenant) SELECT DISTINCT $1::int, tenant FROM sluice_incoming ON CONFLICT DO NOTHING`,
    [c.stream],
  );
  // by tenant, as a first load is: the rows an export reads together are written together
  const written = await upsert(client, c.stream, c.run.id, 'SELECT tenant, key, cursor, data FROM sluice_incoming ORDER BY tenant', []);
  const read = await client.query<{ tenant: string; n: string }>(`SELECT tenant, count(*) AS n FROM sluice_incoming GROUP BY tenant`);
  const byTenant = countByTenant([], written);
  for (const r of read.rows) (byTenant[r.tenant] ??= { read: 0, staged: 0 }).read = Number(r.n);
  return { read: n, staged: written.length, unchanged: n - written.length, byTenant };
}

/**
 * Upserts the rows `(tenant, key, cursor, data)` of `rowsSql` (its parameters start at $3): what changed
 * is written, and each record that moved to another tenant leaves a tombstone for the one it left.
 * Returns the tenant of each record written.
 */
async function upsert(client: pg.Client, stream: number, run: string, rowsSql: string, params: unknown[]): Promise<string[]> {
  const written = await client.query<{ tenant: string }>(
    `WITH written AS (
       INSERT INTO sluice_records AS r (stream_id, key, tenant, op, data, cursor, run_id, seq, staged_at)
       SELECT $1, key, tenant, CASE WHEN data IS NULL THEN 'delete' ELSE 'upsert' END, data,
              cursor, $2, nextval('sluice_record_seq'), now()
         FROM (${rowsSql}) AS incoming
       ON CONFLICT (stream_id, key) DO UPDATE SET ${UPDATE_RECORD}
       RETURNING r.key, r.tenant, r.moved_from),
     tombstones AS (${TOMBSTONES})
     SELECT tenant FROM written`,
    [stream, run, ...params],
  );
  return written.rows.map((r) => r.tenant);
}

/** Counts the batch and refuses NULL keys or tenants and keys that appear twice. */
async function checkIncoming(client: pg.Client): Promise<number> {
  const stats = await client.query<{ n: string; null_key: string | null; null_tenant: string | null }>(
    `SELECT count(*) AS n, bool_or(key IS NULL) AS null_key, min(key) FILTER (WHERE tenant IS NULL) AS null_tenant FROM sluice_incoming`,
  );
  const { n, null_key, null_tenant } = stats.rows[0]!;
  if (null_key) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.stage.sql.commit-postgres.1'));
  if (null_tenant !== null) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.stage.sql.commit-postgres.2', { null_tenant }), { key: null_tenant });
  const dups = await client.query<{ key: string }>(`SELECT key FROM sluice_incoming GROUP BY key HAVING count(*) > 1 LIMIT 5`);
  if (dups.rows.length > 0) throw duplicateInBatch(dups.rows.map((r) => r.key));
  return Number(n);
}
