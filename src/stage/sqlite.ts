/**
 * The embedded default staging store: one SQLite file (WAL), no server. A batch is committed in one
 * synchronous better-sqlite3 transaction, which also advances the checkpoint and the run's counts.
 * The run lock is an exclusive transaction held on a separate lock file: the OS releases it when the
 * process that holds it dies, however it dies.
 */
import { mkdirSync } from 'node:fs';
import { msg } from '../core/i18n';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { SluiceError, messageOf } from '../core/errors';
import { decodeCopyLines } from '../core/copy-text';
import { contentHash } from '../core/hash';
import { withLineage } from '../core/lineage';
import type { Batch } from '../core/record';
import { KnexStore, QUIET_LOG } from './knex-store';
import { freshDeliveries, type Delivery, type IntakeResult } from './intake';
import type { CommitCounts, RecordQuery } from './store';
import { commitSqlite } from './sql/commit-sqlite';

export class SqliteStore extends KnexStore {
  readonly kind = 'sqlite';
  readonly accepts = ['records'] as const;

  static open(file: string): SqliteStore {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw new SluiceError('SLUICE_STAGING_CONNECT', msg('err.stage.sqlite.1', { file, reason: messageOf(err) }), {}, { cause: err });
    }
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      log: QUIET_LOG,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (db: Database.Database, done: (err: Error | null, db: Database.Database) => void) => {
          try {
            db.pragma('journal_mode = WAL');
            db.pragma('synchronous = NORMAL'); // durable against a process crash; WAL keeps it consistent
            db.pragma('busy_timeout = 10000');
            db.pragma('foreign_keys = ON');
            done(null, db);
          } catch (err) {
            done(err as Error, db);
          }
        },
      },
    });
    return new SqliteStore(knex, file);
  }

  private async withDb<T>(fn: (db: Database.Database) => T): Promise<T> {
    const db = (await this.knex.client.acquireConnection()) as Database.Database;
    try {
      return fn(db);
    } finally {
      await this.knex.client.releaseConnection(db);
    }
  }

  async lock(pipeline: string): Promise<{ release(): Promise<void> }> {
    const file = join(`${this.location}.locks`, `${Buffer.from(pipeline).toString('hex')}.lock`);
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { timeout: 0 });
    try {
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
        throw new SluiceError('SLUICE_LOCKED', msg('err.stage.sqlite.2', { pipeline, file }), { pipeline });
      }
      throw err;
    }
    return {
      release: async () => {
        if (db.open) db.close(); // closing ends the transaction and drops the lock
      },
    };
  }

  async commit(run: { id: string; pipeline: string; source: string }, batch: Batch): Promise<CommitCounts> {
    const stream = (await this.streamId(run.pipeline, run.source))!;
    const records = batch.rows.kind === 'records' ? batch.rows.records : decodeCopyLines(batch.rows.data);
    const rows = records.map((r) => ({ ...r, hash: contentHash(r.json) }));
    return this.withDb((db) => commitSqlite(db, { stream, run, rows, checkpoint: batch.checkpoint }));
  }

  protected async nextSeq(tx: Knex.Transaction): Promise<number> {
    await tx('sluice_counters').where({ name: 'record_seq' }).increment('value', 1);
    return this.currentSeq(tx);
  }

  protected async currentSeq(tx: Knex.Transaction): Promise<number> {
    const row = await tx('sluice_counters').where({ name: 'record_seq' }).first('value');
    return Number(row!.value);
  }

  async intake(run: { id: string; pipeline: string; source: string }, deliveries: readonly Delivery[]): Promise<IntakeResult[]> {
    const stream = (await this.streamId(run.pipeline, run.source))!;
    return this.withDb((db) =>
      db.transaction(() => {
        const record = db.prepare(`INSERT INTO sluice_deliveries (stream_id, delivery_id, key, run_id, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
        const now = new Date().toISOString();
        const unseen = new Set(deliveries.filter((d) => record.run(stream, d.id, d.record.key, run.id, now).changes === 1).map((d) => d.id));
        const { results, records } = freshDeliveries(deliveries, unseen);
        commitSqlite(db, { stream, run, rows: records.map((r) => ({ ...r, hash: contentHash(r.json) })) });
        return results;
      })(),
    );
  }

  async contentHashes(json: readonly (string | null)[]): Promise<string[]> {
    return json.map(contentHash);
  }

  async *readJsonLines(tenant: string, query: Omit<RecordQuery, 'op'>): AsyncGenerator<Buffer> {
    for await (const page of this.read(tenant, { ...query, op: 'upsert' })) {
      yield Buffer.from(page.map((r) => `${query.lineage ? withLineage(r.json!, { ...r, refinedBy: r.refinedBy ?? null }) : r.json}\n`).join(''), 'utf8');
    }
  }
}
