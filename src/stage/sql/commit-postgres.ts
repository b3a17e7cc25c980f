/**
 * One batch into PostgreSQL, in one transaction: COPY the batch into a temporary table, refuse NULL and
 * duplicate keys, note its tenants, upsert what changed (the database hashes the data), leave a
 * tombstone for the old tenant of each record that moved, then advance the checkpoint and the run's counts.
 */
import type pg from 'pg';
import { SluiceError } from '../../core/errors';
import type { Checkpoint } from '../../core/record';
import type { CommitCounts } from '../store';
import { duplicateInBatch } from './errors';

export interface PostgresCommit {
  stream: number;
  run: { id: string };
  checkpoint: Checkpoint;
  /** Streams the batch's COPY text into the given `COPY ... FROM STDIN` statement. */
  load(copySql: string): Promise<void>;
}

const prepared = new WeakSet<pg.Client>();

export async function commitPostgres(client: pg.Client, c: PostgresCommit): Promise<CommitCounts> {
  if (!prepared.has(client)) {
    await client.query(
      `CREATE TEMP TABLE IF NOT EXISTS sluice_incoming (tenant text, key text, cursor text, data text) ON COMMIT DELETE ROWS`,
    );
    prepared.add(client);
  }
  await client.query('BEGIN');
  try {
    await c.load('COPY sluice_incoming (tenant, key, cursor, data) FROM STDIN');
    const n = await checkIncoming(client);
    await client.query(
      `INSERT INTO sluice_tenants (stream_id, tenant) SELECT DISTINCT $1::int, tenant FROM sluice_incoming ON CONFLICT DO NOTHING`,
      [c.stream],
    );
    // In DO UPDATE, `r.` is the row as it was: a record whose tenant changes remembers the one it left.
    const merged = await client.query(
      `INSERT INTO sluice_records AS r (stream_id, key, tenant, op, data, hash, cursor, run_id, seq, staged_at)
       SELECT $1, key, tenant, CASE WHEN data IS NULL THEN 'delete' ELSE 'upsert' END, data, coalesce(md5(data), ''),
              cursor, $2, nextval('sluice_record_seq'), now()
         FROM sluice_incoming
       ON CONFLICT (stream_id, key) DO UPDATE SET
         moved_from = CASE WHEN r.tenant <> excluded.tenant AND r.op = 'upsert' THEN r.tenant END,
         tenant = excluded.tenant, op = excluded.op, data = excluded.data, hash = excluded.hash, cursor = excluded.cursor,
         run_id = excluded.run_id, seq = excluded.seq, staged_at = excluded.staged_at
       WHERE r.hash <> excluded.hash OR r.op <> excluded.op OR r.tenant <> excluded.tenant`,
      [c.stream, c.run.id],
    );
    const staged = merged.rowCount ?? 0;
    await client.query(
      `INSERT INTO sluice_tombstones (stream_id, tenant, key, seq, run_id, staged_at)
       SELECT stream_id, moved_from, key, nextval('sluice_record_seq'), $2, now() FROM sluice_records
        WHERE stream_id = $1 AND moved_from IS NOT NULL
       ON CONFLICT (stream_id, tenant, key) DO UPDATE SET seq = excluded.seq, run_id = excluded.run_id, staged_at = excluded.staged_at`,
      [c.stream, c.run.id],
    );
    await client.query(`UPDATE sluice_records SET moved_from = NULL WHERE stream_id = $1 AND moved_from IS NOT NULL`, [c.stream]);
    await client.query(
      `UPDATE sluice_streams SET checkpoint = $2, run_id = $3, updated_at = now(),
         high_water = (SELECT last_value FROM sluice_record_seq) WHERE id = $1`,
      [c.stream, JSON.stringify(c.checkpoint), c.run.id],
    );
    await client.query(
      `UPDATE sluice_runs SET rows_read = rows_read + $2, rows_staged = rows_staged + $3, rows_unchanged = rows_unchanged + $4 WHERE id = $1`,
      [c.run.id, n, staged, n - staged],
    );
    await client.query('COMMIT');
    return { read: n, staged, unchanged: n - staged };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Counts the batch and refuses NULL keys or tenants and keys that appear twice. */
async function checkIncoming(client: pg.Client): Promise<number> {
  const stats = await client.query<{ n: string; null_key: string | null; null_tenant: string | null }>(
    `SELECT count(*) AS n, bool_or(key IS NULL) AS null_key, min(key) FILTER (WHERE tenant IS NULL) AS null_tenant FROM sluice_incoming`,
  );
  const { n, null_key, null_tenant } = stats.rows[0]!;
  if (null_key) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', 'a row has NULL in a key column');
  if (null_tenant !== null) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', `row ${null_tenant} has NULL in its tenant column`, { key: null_tenant });
  const dups = await client.query<{ key: string }>(`SELECT key FROM sluice_incoming GROUP BY key HAVING count(*) > 1 LIMIT 5`);
  if (dups.rows.length > 0) throw duplicateInBatch(dups.rows.map((r) => r.key));
  return Number(n);
}
