/**
 * One batch into SQLite, in one transaction: load the batch into a temporary table, refuse duplicate
 * keys, note its tenants, upsert what changed (by content hash), leave a tombstone for the old tenant of
 * each record that moved, then advance the checkpoint and the run's counts.
 */
import type Database from 'better-sqlite3';
import type { Checkpoint, SourceRecord } from '../../core/record';
import { countByTenant, type CommitCounts } from '../store';
import { duplicateInBatch } from './errors';

export interface SqliteCommit {
  stream: number;
  run: { id: string };
  rows: (SourceRecord & { hash: string })[];
  /** Absent for pushed deliveries: they leave the checkpoint as it is. */
  checkpoint?: Checkpoint;
}

const CHUNK = 500; // rows per INSERT: 5 parameters each, well under SQLite's 32766

export function commitSqlite(db: Database.Database, c: SqliteCommit): CommitCounts {
  return db.transaction((): CommitCounts => {
    const now = new Date().toISOString();
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS sluice_incoming (tenant TEXT NOT NULL, key TEXT NOT NULL, cursor TEXT, data TEXT, hash TEXT NOT NULL)`);
    db.exec('DELETE FROM sluice_incoming');
    let stagedTenants: string[] = [];
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
      // In DO UPDATE, bare column names are the row as it was: a record whose tenant changes remembers the one it left.
      const written = db
        .prepare(
          `INSERT INTO sluice_records (stream_id, key, tenant, op, data, hash, cursor, run_id, seq, staged_at)
           SELECT ?, key, tenant, CASE WHEN data IS NULL THEN 'delete' ELSE 'upsert' END, data, hash, cursor, ?, ? + rowid, ?
             FROM sluice_incoming WHERE true
           ON CONFLICT (stream_id, key) DO UPDATE SET
             moved_from = CASE WHEN tenant <> excluded.tenant AND op = 'upsert' THEN tenant END,
             tenant = excluded.tenant, op = excluded.op, data = excluded.data, hash = excluded.hash, cursor = excluded.cursor,
             run_id = excluded.run_id, seq = excluded.seq, staged_at = excluded.staged_at,
             refined = NULL, refine_status = NULL, refine_detail = NULL, refine_version = NULL
           WHERE hash <> excluded.hash OR op <> excluded.op OR tenant <> excluded.tenant
           RETURNING key, tenant, moved_from`,
        )
        .all(c.stream, c.run.id, base, now) as { key: string; tenant: string; moved_from: string | null }[];
      stagedTenants = written.map((r) => r.tenant);
      const tombstone = db.prepare(
        `INSERT INTO sluice_tombstones (stream_id, tenant, key, seq, run_id, staged_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (stream_id, tenant, key) DO UPDATE SET seq = excluded.seq, run_id = excluded.run_id, staged_at = excluded.staged_at`,
      );
      let seq = base + n;
      for (const r of written) if (r.moved_from !== null) tombstone.run(c.stream, r.moved_from, r.key, ++seq, c.run.id, now);
      db.prepare(`UPDATE sluice_counters SET value = ? WHERE name = 'record_seq'`).run(base + 2 * n);
      db.prepare(`UPDATE sluice_streams SET high_water = ? WHERE id = ?`).run(base + 2 * n, c.stream);
    }
    db.prepare(`UPDATE sluice_streams SET checkpoint = coalesce(?, checkpoint), run_id = ?, updated_at = ? WHERE id = ?`).run(
      c.checkpoint === undefined ? null : JSON.stringify(c.checkpoint),
      c.run.id,
      now,
      c.stream,
    );
    const staged = stagedTenants.length;
    db.prepare(
      `UPDATE sluice_runs SET rows_read = rows_read + ?, rows_staged = rows_staged + ?, rows_unchanged = rows_unchanged + ? WHERE id = ?`,
    ).run(n, staged, n - staged, c.run.id);
    return { read: n, staged, unchanged: n - staged, byTenant: countByTenant(c.rows.map((r) => r.tenant), stagedTenants) };
  })();
}
