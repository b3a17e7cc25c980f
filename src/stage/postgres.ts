/**
 * The PostgreSQL staging store, for production and for several workers sharing one store. Batches are
 * loaded with COPY into a temporary table and merged with set-based SQL; exports read back with COPY.
 * Content hashes are computed by the database. The run lock is a session advisory lock, held on a
 * dedicated connection, so it holds across machines and is released if the holder dies.
 */
import { Readable } from 'node:stream';
import { msg } from '../core/i18n';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import knexFactory, { type Knex } from 'knex';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { SluiceError, messageOf } from '../core/errors';
import { gathered } from '../core/chunks';
import { encodeCopyRecord } from '../core/copy-text';
import { LineageSplicer, lineageSuffixSql } from '../core/lineage';
import type { Batch } from '../core/record';
import { describeUrl } from '../extract/read/connect-error';
import { KnexStore, QUIET_LOG } from './knex-store';
import { EXPORTED_STATUSES } from './sql/record-queries';
import { TENANT_READER } from './migrations/009_tenant_isolation';
import type { CommitCounts, RecordQuery } from './store';
import { commitPostgres, intakePostgres } from './sql/commit-postgres';
import type { Delivery, IntakeResult } from './intake';

/** Advisory lock namespace (the first key of the two-key form) for pipeline run locks. */
const RUN_LOCK = 0x51c1;
/** Advisory lock (two-key form) held while migrating. */
const MIGRATE_LOCK = 0x51c2;

/** What COPY reads yield at least: large enough that per-chunk costs vanish, small enough to stream. */
const CHUNK_BYTES = 64 * 1024;
/** A chunk this large is yielded as it comes rather than copied into a gathered one. */
const PASS_BYTES = 16 * 1024;

export class PostgresStore extends KnexStore {
  readonly kind = 'postgres';
  readonly accepts = ['copy', 'records'] as const;
  /** Per run and stream: still a first load (the stream was empty when the run began, every batch went in directly). */
  private readonly firstLoads = new Map<string, boolean>();

  static open(url: string): PostgresStore {
    const knex = knexFactory({
      client: 'pg',
      connection: { connectionString: url, application_name: 'sluice' },
      pool: { min: 0, max: 4 },
      log: QUIET_LOG,
    });
    return new PostgresStore(knex, describeUrl(url));
  }

  /** Runs `fn` on one raw connection of the pool (COPY needs the driver's own client). */
  private async withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    let client: pg.Client;
    try {
      client = (await this.knex.client.acquireConnection()) as pg.Client;
    } catch (err) {
      throw new SluiceError('SLUICE_STAGING_CONNECT', msg('err.stage.postgres.1', { location: this.location, reason: messageOf(err) }), {}, { cause: err });
    }
    try {
      return await fn(client);
    } finally {
      await this.knex.client.releaseConnection(client);
    }
  }

  override async migrate(): Promise<void> {
    try {
      // knex creates its bookkeeping tables before taking its own migration lock, so two processes
      // migrating a fresh store at once would race on them: they take turns on an advisory lock first.
      await this.withClient(async (client) => {
        await client.query('SELECT pg_advisory_lock($1, 0)', [MIGRATE_LOCK]);
        try {
          await super.migrate();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1, 0)', [MIGRATE_LOCK]).catch(() => undefined);
        }
      });
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      throw new SluiceError('SLUICE_STAGING_CONNECT', msg('err.stage.postgres.2', { location: this.location, reason: messageOf(err) }), {}, { cause: err });
    }
  }

  async lock(pipelineName: string): Promise<{ release(): Promise<void> }> {
    const client = (await this.knex.client.acquireConnection()) as pg.Client;
    const r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok`, [RUN_LOCK, pipelineName]);
    if (!r.rows[0]!.ok) {
      await this.knex.client.releaseConnection(client);
      throw new SluiceError('SLUICE_LOCKED', msg('err.stage.postgres.3', { pipelineName, location: this.location }), {
        pipeline: pipelineName,
      });
    }
    return {
      release: async () => {
        await client.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [RUN_LOCK, pipelineName]).catch(() => undefined);
        await this.knex.client.releaseConnection(client);
      },
    };
  }

  async commit(run: { id: string; pipeline: string; source: string }, batch: Batch): Promise<CommitCounts> {
    const stream = (await this.streamId(run.pipeline, run.source))!;
    const rows = batch.rows;
    const data = rows.kind === 'copy' ? rows.data : [Buffer.from(rows.records.map(encodeCopyRecord).join(''), 'utf8')];
    const loadKey = `${run.id}/${stream}`;
    const firstLoad = this.firstLoads.get(loadKey) ?? !(await this.knex('sluice_records').where({ stream_id: stream }).first('key'));
    const result = await this.withClient((client) =>
      commitPostgres(client, {
        stream,
        run,
        checkpoint: batch.checkpoint,
        data,
        firstLoad,
        load: (sql, text = data) => pipeline(Readable.from(text), client.query(copyFrom(sql))),
      }),
    );
    this.firstLoads.set(loadKey, result.firstLoad);
    return { read: result.read, staged: result.staged, unchanged: result.unchanged, byTenant: result.byTenant };
  }

  async contentHashes(json: readonly (string | null)[]): Promise<string[]> {
    // the expression of the generated column `sluice_records.hash`
    const r = await this.withClient((client) =>
      client.query<{ hash: string }>(
        `SELECT coalesce(hashtextextended(d, 0), 0)::text AS hash FROM unnest($1::text[]) WITH ORDINALITY AS t(d, i) ORDER BY i`,
        [json],
      ),
    );
    return r.rows.map((row) => row.hash);
  }

  protected async nextSeq(tx: Knex.Transaction): Promise<number> {
    const r = await tx.raw<{ rows: { seq: string }[] }>(`SELECT nextval('sluice_record_seq') AS seq`);
    return Number(r.rows[0]!.seq);
  }

  protected async currentSeq(tx: Knex.Transaction): Promise<number> {
    const r = await tx.raw<{ rows: { seq: string }[] }>(`SELECT last_value AS seq FROM sluice_record_seq`);
    return Number(r.rows[0]!.seq);
  }

  async intake(run: { id: string; pipeline: string; source: string }, deliveries: readonly Delivery[]): Promise<IntakeResult[]> {
    const stream = (await this.streamId(run.pipeline, run.source))!;
    return this.withClient((client) =>
      intakePostgres(client, { stream, run, deliveries }),
    );
  }

  /** Whether reads can take on the tenant reader role (migration 009 could create it, and we may use it). */
  private readerRole?: Promise<boolean>;

  private canUseReaderRole(run: (sql: string, values: unknown[]) => Promise<unknown>): Promise<boolean> {
    // asked on the caller's own connection (one from the pool could be the one it waits for), in a way
    // that cannot fail and abort the caller's transaction: a role that does not exist is simply not ours
    this.readerRole ??= run(`SELECT coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = $1), false) AS ok`, [TENANT_READER])
      .then((r) => (r as { rows: { ok: boolean }[] }).rows[0]?.ok === true)
      .catch(() => false);
    return this.readerRole;
  }

  /** `SET LOCAL ROLE` and the tenant, for the transaction: row-level security then shows only its rows. */
  private async scopeTo(run: (sql: string, values: unknown[]) => Promise<unknown>, tenant: string): Promise<void> {
    if (await this.canUseReaderRole(run)) await run(`SET LOCAL ROLE ${TENANT_READER}`, []);
    await run(`SELECT set_config('sluice.tenant', $1, true)`, [tenant]);
  }

  protected override tenantScoped<T>(tenant: string, read: (db: Knex) => Promise<T>): Promise<T> {
    return this.knex.transaction(
      async (tx) => {
        await this.scopeTo((sql, values) => tx.raw(sql.replace('$1', '?'), values as Knex.RawBinding[]), tenant);
        return read(tx);
      },
      { readOnly: true },
    );
  }

  async *readJsonLines(tenant: string, q: Omit<RecordQuery, 'op'>): AsyncGenerator<Buffer> {
    // CSV with a quote and a delimiter that valid JSON text never contains: each line is the data as is
    const options = `FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02'`;
    const from = `FROM sluice_records rec CROSS JOIN LATERAL (SELECT ${dataOf(q)} AS v) d`;
    if (!q.lineage) {
      yield* this.copyOut(tenant, q, `SELECT d.v ${from}`, options);
      return;
    }
    // `_sluice` comes built beside the data and is spliced in as bytes on the way out: one copy of each
    // line in Node (the chunks as they arrive, not gathered first), no parsing, little work for the database
    const suffix = lineageSuffixSql(q.source, 'to_json(rec.key)::text', 'to_json(rec.run_id)::text', refinedBy(q));
    const splicer = new LineageSplicer(CHUNK_BYTES);
    for await (const chunk of this.copyOut(tenant, q, `SELECT d.v, ${suffix} ${from}`, options, { gather: false })) yield* splicer.push(chunk);
    yield* splicer.end();
  }

  /** COPY of one tenant's upserts in a change window, in change order, inside a read-only transaction scoped to the tenant. */
  private async *copyOut(tenant: string, q: Omit<RecordQuery, 'op'>, select: string, options: string, o: CopyOutOptions = {}): AsyncGenerator<Buffer> {
    const stream = await this.streamId(q.pipeline, q.source, { create: false });
    if (stream === undefined) return;
    const client = (await this.knex.client.acquireConnection()) as pg.Client;
    let finished = false;
    try {
      await client.query('BEGIN READ ONLY');
      await this.scopeTo((sql, values) => client.query(sql, values), tenant);
      await client.query(
        `SELECT set_config('sluice.stream', $1, true), set_config('sluice.after', $2, true),
                set_config('sluice.upto', $3, true), set_config('sluice.source', $4, true)`,
        [String(stream), String(q.afterSeq), String(q.upToSeq), q.source],
      );
      // `rec` is sluice_records: the record's own fields may be named like its columns
      const refined = q.refined ? `AND rec.refine_status IN (${EXPORTED_STATUSES.map((s) => `'${s}'`).join(', ')})` : '';
      const copy = client.query(
        copyTo(`COPY (${select}
          WHERE rec.stream_id = current_setting('sluice.stream')::int AND rec.tenant = current_setting('sluice.tenant')
            AND rec.seq > current_setting('sluice.after')::bigint AND rec.seq <= current_setting('sluice.upto')::bigint
            AND rec.op = 'upsert' ${refined}
          ORDER BY rec.seq) TO STDOUT WITH (${options})`),
      );
      // COPY hands over what one socket read held, at times a single row: small chunks are gathered, large
      // ones pass uncopied. Chunks may end inside a row: consumers allow for that.
      yield* o.gather === false ? (copy as AsyncIterable<Buffer>) : gathered(copy as AsyncIterable<Buffer>, CHUNK_BYTES, PASS_BYTES);
      await client.query('COMMIT');
      finished = true;
    } finally {
      // Stopped early (the writer failed), the COPY may still be streaming: this connection cannot be
      // reused, so close it; the pool sees it ended and opens a new one.
      if (!finished) await client.end().catch(() => undefined);
      await this.knex.client.releaseConnection(client);
    }
  }
}

interface CopyOutOptions {
  /** Gather small chunks into ones of about `CHUNK_BYTES` (default); false: every chunk as it comes. */
  gather?: boolean;
}

/** What a refined read exports: the refined record where refinement succeeded, else the staged one. */
const dataOf = (q: Omit<RecordQuery, 'op'>) => (q.refined ? `CASE WHEN rec.refine_status = 'refined' THEN rec.refined ELSE rec.data END` : 'rec.data');
const refinedBy = (q: Omit<RecordQuery, 'op'>) =>
  q.refined ? `coalesce(to_json(CASE WHEN rec.refine_status = 'refined' THEN rec.refine_version END)::text, 'null')` : `'null'`;

export type { Knex };
