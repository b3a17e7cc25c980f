/**
 * One batch into SQLite, in one transaction: load the batch into a temporary table, refuse duplicate
 * keys, note its tenants, turn records that moved to another tenant into tombstones for their old tenant, upsert what
 * changed (by content hash), then advance the checkpoint and the run's counts.
 */
import type Database from 'better-sqlite3';
import type { Checkpoint, SourceRecord } from '../../core/record';
import type { CommitCounts } from '../store';
import { duplicateInBatch } from './errors';

export interface SqliteCommit {
  stream: number;
  run: { id: string };
  rows: (SourceRecord & { hash: string })[];
  checkpoint: Checkpoint;
}

const CHUNK = 500; // rows per INSERT: 5 parameters each, well under SQLite's 32766

export function commitSqlite(db: Database.Database, c: SqliteCommit): CommitCounts {
  return db.transaction((): CommitCounts => {
    const now = new Date().toISOString();
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS sluice_incoming (tenant TEXT NOT NULL, key TEXT NOT NULL, cursor TEXT, data TEXT, hash TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS temp.sluice_incoming_key ON sluice_incoming (key)`);
    db.exec('DELETE FROM sluice_incoming');
    let staged = 0;
    const n = c.rows.length;
    if (n > 0) {
      for (let i = 0; i < n; i += CHUNK) {
        const chunk = c.rows.slice(i, i + CHUNK);
        const values: unknown[] = [];
        for (const r of chunk) values.push(r.tenant, r.key, r.cursor, r.json, r.hash);
        db.prepare(`INSERT INTO sluice_incoming (tenant, key, cursor, data, hash) VALUES ${chunk.map(() => '(?,?,?,?,?)').join(',')}`).run(values);
      }
      const dups = db.prepare(`SELECT key FROM sluice_incoming GROUP BY key HAVING count(*) > 1 LIMIT 5`).pluck().all() as string[];
      if (dups.length > 0) throw duplicateInBatch(dups);

      db.prepare(`INSERT INTO sluice_tenants (stream_id, tenant) SELECT DISTINCT ?, tenant FROM sluice_incoming WHERE true ON CONFLICT DO NOTHING`).run(c.stream);
      const base = Number(db.prepare(`SELECT value FROM sluice_counters WHERE name = 'record_seq'`).pluck().get());
      // Records that moved to another tenant become tombstones for their old one. CROSS JOIN makes SQLite
      // loop over the batch and probe the primary key, so the cost follows the batch, not the staged table.
      db.prepare(
        `UPDATE sluice_records SET op = 'delete', data = NULL, hash = '', run_id = ?, staged_at = ?,
                seq = ? + (SELECT i.rowid FROM sluice_incoming AS i WHERE i.key = sluice_records.key)
          WHERE rowid IN (SELECT r.rowid FROM sluice_incoming AS i CROSS JOIN sluice_records AS r
                           WHERE r.stream_id = ? AND r.key = i.key AND r.tenant <> i.tenant AND r.op = 'upsert')`,
      ).run(c.run.id, now, base, c.stream);
      staged = db
        .prepare(
          `INSERT INTO sluice_records (stream_id, key, tenant, op, data, hash, cursor, run_id, seq, staged_at)
           SELECT ?, key, tenant, CASE WHEN data IS NULL THEN 'delete' ELSE 'upsert' END, data, hash, cursor, ?, ? + rowid, ?
             FROM sluice_incoming WHERE true
           ON CONFLICT (stream_id, key, tenant) DO UPDATE SET
             op = excluded.op, data = excluded.data, hash = excluded.hash, cursor = excluded.cursor,
             run_id = excluded.run_id, seq = excluded.seq, staged_at = excluded.staged_at
           WHERE sluice_records.hash <> excluded.hash OR sluice_records.op <> excluded.op`,
        )
        .run(c.stream, c.run.id, base + n, now).changes;
      db.prepare(`UPDATE sluice_counters SET value = ? WHERE name = 'record_seq'`).run(base + 2 * n);
      db.prepare(`UPDATE sluice_streams SET high_water = ? WHERE id = ?`).run(base + 2 * n, c.stream);
    }
    db.prepare(`UPDATE sluice_streams SET checkpoint = ?, run_id = ?, updated_at = ? WHERE id = ?`).run(
      JSON.stringify(c.checkpoint),
      c.run.id,
      now,
      c.stream,
    );
    db.prepare(
      `UPDATE sluice_runs SET rows_read = rows_read + ?, rows_staged = rows_staged + ?, rows_unchanged = rows_unchanged + ? WHERE id = ?`,
    ).run(n, staged, n - staged, c.run.id);
    return { read: n, staged, unchanged: n - staged };
  })();
}
