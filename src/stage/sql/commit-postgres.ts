/**
 * One batch into PostgreSQL, in one transaction: COPY the batch into a temporary table, refuse NULL and
 * duplicate keys, note its tenants, turn records that moved to another tenant into tombstones for their old tenant, merge
 * what changed (the database hashes the data), then advance the checkpoint and the run's counts.
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
    const bad = await client.query<{ key: string | null; tenant: string | null }>(
      `SELECT key, tenant FROM sluice_incoming WHERE key IS NULL OR tenant IS NULL LIMIT 1`,
    );
    if (bad.rows.length > 0) {
      const row = bad.rows[0]!;
      throw row.key === null
        ? new SluiceError('SLUICE_SOURCE_NULL_KEY', 'a row has NULL in a key column')
        : new SluiceError('SLUICE_SOURCE_NULL_KEY', `row ${row.key} has NULL in its tenant column`, { key: row.key });
    }
    const dups = await client.query<{ key: string }>(`SELECT key FROM sluice_incoming GROUP BY key HAVING count(*) > 1 LIMIT 5`);
    if (dups.rows.length > 0) throw duplicateInBatch(dups.rows.map((r) => r.key));

    const count = await client.query<{ n: string }>(`SELECT count(*) AS n FROM sluice_incoming`);
    const n = Number(count.rows[0]!.n);
    await client.query(
      `INSERT INTO sluice_tenants (stream_id, tenant) SELECT DISTINCT $1::int, tenant FROM sluice_incoming ON CONFLICT DO NOTHING`,
      [c.stream],
    );
    // Records that moved to another tenant become tombstones for their old one. The lateral probe looks
    // each incoming key up in the primary key, so the cost follows the batch, never the staged table.
    await client.query(
      `UPDATE sluice_records SET op = 'delete', data = NULL, hash = '', seq = nextval('sluice_record_seq'), run_id = $2, staged_at = now()
        WHERE ctid = ANY (ARRAY(
          SELECT r.ctid FROM sluice_incoming AS i CROSS JOIN LATERAL (
            SELECT ctid FROM sluice_records WHERE stream_id = $1 AND key = i.key AND tenant <> i.tenant AND op = 'upsert') AS r))`,
      [c.stream, c.run.id],
    );
    const merged = await client.query(
      `INSERT INTO sluice_records AS r (stream_id, key, tenant, op, data, hash, cursor, run_id, seq, staged_at)
       SELECT $1, key, tenant, CASE WHEN data IS NULL THEN 'delete' ELSE 'upsert' END, data, coalesce(md5(data), ''),
              cursor, $2, nextval('sluice_record_seq'), now()
         FROM sluice_incoming
       ON CONFLICT (stream_id, key, tenant) DO UPDATE SET
         op = excluded.op, data = excluded.data, hash = excluded.hash, cursor = excluded.cursor,
         run_id = excluded.run_id, seq = excluded.seq, staged_at = excluded.staged_at
       WHERE r.hash <> excluded.hash OR r.op <> excluded.op`,
      [c.stream, c.run.id],
    );
    const staged = merged.rowCount ?? 0;
    await client.query(
      `UPDATE sluice_streams SET checkpoint = $2, run_id = $3, updated_at = now(),
         high_water = (SELECT last_value FROM sluice_record_seq) WHERE id = $1`,
      [
        c.stream,
        JSON.stringify(c.checkpoint),
        c.run.id,
      ],
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
