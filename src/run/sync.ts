/**
 * A sync run's lifecycle: open the staging store, take the pipeline's lock (the same advisory lock as
 * every run, so one sync per pipeline runs at a time across machines), open both sides, skip a side
 * whose circuit breaker is open, then let the engine recover unfinished creates, retry the queue, carry
 * each side's changes and deletes over, and record the run with its counts per side.
 */
import { ConfigErrors, messageOf, isSluiceError, SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import { authHeaders, RateLimiter } from '../core/http-client';
import { newRunId } from '../core/ids';
import { readFileSync } from 'node:fs';
import { problemAt } from '../config/validate';
import { parseYaml } from '../config/yaml';
import { limitedPull, readerFor } from '../extract/registry';
import { metrics } from '../observe/metrics';
import { openStore } from '../stage/open';
import type { SideCounts, SyncStore } from '../stage/sync-store';
import type { SideId } from '../sync/config';
import { customResolver } from '../sync/custom';
import { mappingOf } from '../sync/mapping';
import { moduleProblems } from '../sync/transforms';
import type { Side } from '../sync/side';
import { HttpSide } from '../sync/sides/http';
import { listenToTable } from '../sync/sides/sql';
import { TableSide } from '../sync/sides/table';
import type { Pipeline, PipelineSync } from './pipeline';
import type { RunOptions } from './run';
import { stagingUrl } from './staging';
import { SyncEngine, type DriftReport, type SyncPlan } from './sync-engine';

export interface SyncOptions extends Pick<RunOptions, 'stagingUrl' | 'env' | 'signal' | 'actor' | 'runId'> {
  /** Plan only: print what would be written; nothing is sent to the sides or kept in the store. */
  dryRun?: boolean;
  /** The pipeline file, so a mapping that names a missing column is reported at its line. */
  file?: string;
  onBatch?(side: string, rows: number): void;
  /** Look for deletes over every link (default true); a run woken by a change notification skips it. */
  scanDeletes?: boolean;
  /** `sluice check`: compare both sides in full and report drift (`report`), or also mend it (`repair`). */
  check?: 'report' | 'repair';
}

export interface SyncSummary {
  pipeline: string;
  run: string;
  status: 'succeeded' | 'planned' | 'checked';
  staging: string;
  durationMs: number;
  sides: Record<SideId, SideCounts & { name: string }>;
  /** Linked records after the run. */
  links: number;
  /** Entries waiting in the conflict queue. */
  queued: number;
  plan?: SyncPlan;
  /** What `sluice check` found. */
  drift?: DriftReport;
  peakRssBytes: number;
}

export async function runSync(pipeline: Pipeline, opts: SyncOptions = {}): Promise<SyncSummary> {
  const config = pipeline.sync!;
  const started = Date.now();
  const signal = opts.signal ?? new AbortController().signal;
  const store = openStore(stagingUrl(pipeline, opts));
  try {
    await store.migrate();
    const lock = await store.lock(pipeline.name);
    try {
      const run = opts.runId ?? newRunId();
      const state = store.sync(pipeline.name);
      // a check that only reports writes nothing, like a dry run
      const dryRun = (opts.dryRun ?? false) || opts.check === 'report';
      if (!dryRun) await store.startRun(pipeline.name, run);
      try {
        await checkBreakers(pipeline.name, config, state);
        const mapping = mappingOf(config);
        const sides = { a: createSide(pipeline, 'a', signal), b: createSide(pipeline, 'b', signal) };
        let drift: DriftReport | undefined;
        const engine = new SyncEngine({
          run,
          config,
          mapping,
          sides,
          state,
          dryRun,
          signal,
          ...(config.conflicts === 'custom' && config.custom ? { custom: customResolver(config.custom) } : {}),
          // the model's client is loaded only for the pipelines that ask it
          ...(config.conflicts === 'suggest' && config.suggest ? { custom: suggestModule().suggestResolver(config.suggest, { a: config.a.name, b: config.b.name }) } : {}),
          onBatch: (side, rows) => opts.onBatch?.(config[side].name, rows),
        });
        try {
          for (const id of ['a', 'b'] as const) await guarded(id, config, state, () => openSide(sides[id], mapping.names[id], pipeline, id, opts.file));
          const cps = await state.sides();
          await guarded('a', config, state, () => engine.recover());
          if (opts.check) {
            drift = await guarded('a', config, state, () => engine.check(opts.check === 'repair'));
          } else {
            await guarded('a', config, state, () => engine.retryQueue());
            if (config.direction !== 'b_to_a') await guarded('a', config, state, () => engine.pass('a', cps.a.checkpoint));
            if (config.direction !== 'a_to_b') await guarded('b', config, state, () => engine.pass('b', cps.b.checkpoint));
            if (config.deletes !== 'ignore' && opts.scanDeletes !== false) await guarded('a', config, state, () => engine.detectDeletes());
          }
        } finally {
          await Promise.all([sides.a.close(), sides.b.close()]);
        }
        const [links, queued] = await Promise.all([state.linkCounts().then((c) => c.linked), state.queueCounts().then((c) => c.open)]);
        if (!dryRun) {
          for (const id of ['a', 'b'] as const) await state.saveSide(id, { failures: 0, openUntil: null, lastError: null });
          await state.saveRun(run, engine.counts);
          await store.finishRun(run, { status: 'succeeded' });
          await store.appendAudit({ actor: opts.actor ?? 'cli', action: 'sync.succeeded', pipeline: pipeline.name, detail: { run, ...engine.counts } });
          countSync(pipeline.name, config, engine.counts, queued);
        }
        return {
          pipeline: pipeline.name,
          run,
          status: opts.check ? 'checked' : dryRun ? 'planned' : 'succeeded',
          staging: `${store.kind} ${store.location}`,
          durationMs: Date.now() - started,
          sides: { a: { name: config.a.name, ...engine.counts.a }, b: { name: config.b.name, ...engine.counts.b } },
          links,
          queued,
          ...(dryRun && !opts.check ? { plan: engine.plan } : {}),
          ...(drift ? { drift } : {}),
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
        };
      } catch (err) {
        const failure = signal.aborted
          ? new SluiceError('SLUICE_RUN_CANCELLED', msg('err.run.run.1', { pipeline: pipeline.name }), { pipeline: pipeline.name, run })
          : isSluiceError(err)
            ? err.withContext({ pipeline: pipeline.name, run })
            : new SluiceError('SLUICE_SYNC_SIDE', msg('err.sync.run.failed', { pipeline: pipeline.name, reason: messageOf(err) }), { pipeline: pipeline.name, run }, { cause: err });
        if (!dryRun) {
          await store
            .finishRun(run, { status: signal.aborted ? 'cancelled' : 'failed', errorCode: failure.code, error: failure.message })
            .then(() => store.appendAudit({ actor: opts.actor ?? 'cli', action: 'sync.failed', pipeline: pipeline.name, detail: { run, code: failure.code, error: failure.message } }))
            .catch(() => undefined); // the store may be what failed; the original error matters more
        }
        throw failure;
      }
    } finally {
      await lock.release();
    }
  } finally {
    await store.close();
  }
}

/** `conflicts: suggest`'s module, loaded on first use: it brings the OpenAI client. */
function suggestModule(): typeof import('./sync-suggest') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./sync-suggest') as typeof import('./sync-suggest');
}

/** A side's table (or API) reader as its change feed, and its writer. */
function createSide(pipeline: Pipeline, id: SideId, signal: AbortSignal): Side {
  const s = pipeline.sync![id];
  const ctx = { pipeline: pipeline.name, source: s.name, tenant: { value: s.name }, accepts: ['records'] as const, signal };
  if (s.pull) {
    const pull = s.pull;
    const write = s.write as { item: string; create?: string; update: 'PATCH' | 'PUT'; delete: boolean };
    const listing = new URL(pull.url);
    listing.search = '';
    // one rate limit for the API: the listing of changes and the side's reads and writes take turns
    const limiter = pull.rateLimit ? new RateLimiter(pull.rateLimit.perSecond) : undefined;
    return new HttpSide(
      {
        name: s.name,
        pipeline: pipeline.name,
        item: write.item,
        // the pull URL without its query, as the sync config documents
        create: write.create ?? listing.toString(),
        update: write.update,
        delete: write.delete,
        key: pull.key,
        ...(pull.cursor ? { cursor: pull.cursor.field } : {}),
        headers: { ...pull.headers, ...authHeaders(pull.auth) },
        // durations in the pull config are seconds
        timeoutMs: pull.timeout * 1000,
        retries: pull.retries,
        retryDelayMs: pull.retryDelay * 1000,
        maxRetryWaitMs: pull.maxRetryWait * 1000,
        ...(limiter ? { limiter } : {}),
        defaults: s.defaults,
      },
      limitedPull(pull, ctx, limiter),
      signal,
    );
  }
  const read = s.read!;
  const write = s.write as { table: string; touch?: string };
  const feed = readerFor(read.driver).create(read, ctx);
  return new TableSide(
    { name: s.name, pipeline: pipeline.name, driver: read.driver, url: read.url, table: write.table, key: read.key, ...(read.cursor ? { cursor: read.cursor } : {}), ...(write.touch ? { touch: write.touch } : {}), defaults: s.defaults },
    feed,
  );
}

/** Opens a side; a mapped field the side does not have is reported at its place in the pipeline file. */
async function openSide(side: Side, fields: readonly string[], pipeline: Pipeline, id: SideId, file: string | undefined): Promise<void> {
  try {
    await side.open(fields);
  } catch (err) {
    if (!(isSluiceError(err) && err.code === 'SLUICE_SYNC_COLUMN' && file && err.context.field)) throw err;
    const i = pipeline.sync!.fields.findIndex((f) => f[id] === err.context.field);
    const path = i >= 0 ? ['sync', 'fields', i, id] : ['sync', id];
    throw problemAt(parseYaml(readFileSync(file, 'utf8'), file), path, err.message, { code: 'SLUICE_SYNC_COLUMN', context: err.context });
  }
}

/** A side whose breaker is open is not touched until its cool-down ends: the run stops at once, saying so. */
async function checkBreakers(pipeline: string, config: PipelineSync, state: SyncStore): Promise<void> {
  const sides = await state.sides();
  for (const id of ['a', 'b'] as const) {
    const until = sides[id].openUntil;
    metrics.syncBreakerOpen.set({ pipeline, side: config[id].name }, until && Date.parse(until) > Date.now() ? 1 : 0);
    if (until && Date.parse(until) > Date.now()) {
      throw new SluiceError('SLUICE_SYNC_BREAKER', msg('err.sync.run.breaker', { side: config[id].name, until, reason: sides[id].lastError ?? '' }), { pipeline, source: config[id].name });
    }
  }
}

/**
 * Runs a step that talks to side `id`; a failure that is the side's (not a record's) counts toward its
 * breaker, which opens after `breaker.failures` failed runs in a row.
 */
async function guarded<T>(id: SideId, config: PipelineSync, state: SyncStore, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (isSluiceError(err) && (err.kind === 'config' || err.code === 'SLUICE_RUN_CANCELLED')) throw err;
    const side = isSluiceError(err) && err.context.source === config.b.name ? 'b' : isSluiceError(err) && err.context.source === config.a.name ? 'a' : id;
    const failures = (await state.sides())[side].failures + 1;
    const open = failures >= config.breaker.failures;
    await state
      .saveSide(side, { failures, lastError: messageOf(err).slice(0, 500), ...(open ? { openUntil: new Date(Date.now() + config.breaker.coolDown * 1000).toISOString() } : {}) })
      .catch(() => undefined);
    throw err;
  }
}

function countSync(pipeline: string, config: PipelineSync, counts: Record<SideId, SideCounts>, queued: number): void {
  for (const id of ['a', 'b'] as const) {
    for (const [action, n] of Object.entries(counts[id])) if (n > 0) metrics.syncRecords.inc({ pipeline, side: config[id].name, action }, n);
    metrics.syncBreakerOpen.set({ pipeline, side: config[id].name }, 0);
  }
  metrics.syncQueued.set({ pipeline }, queued);
}

/**
 * Listens for changes on the pipeline's `listen: true` sides (PostgreSQL NOTIFY from a trigger that
 * ignores Sluice's own writes); `onChange` is called for each. Returns how to stop.
 */
export async function listenForChanges(pipeline: Pipeline, onChange: () => void): Promise<() => Promise<void>> {
  const stops: (() => Promise<void>)[] = [];
  for (const id of ['a', 'b'] as const) {
    const s = pipeline.sync?.[id];
    if (!s?.listen || s.read?.driver !== 'postgres') continue;
    stops.push(await listenToTable(s.read.url, (s.write as { table: string }).table, `sluice_sync_${pipeline.name}`, onChange));
  }
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}

/**
 * What `sluice validate` checks of a sync pipeline beyond the schema: every custom transform module
 * loads and has the functions its field's direction needs. Problems name the file and line.
 */
export function checkSyncModules(pipeline: Pipeline, file: string): void {
  const fields = pipeline.sync?.fields ?? [];
  const problems: SluiceError[] = [];
  let src: ReturnType<typeof parseYaml> | undefined;
  fields.forEach((f, i) => {
    for (const problem of moduleProblems(f)) {
      src ??= parseYaml(readFileSync(file, 'utf8'), file);
      problems.push(problemAt(src, ['sync', 'fields', i, 'transform'], problem));
    }
  });
  if (problems.length > 0) throw new ConfigErrors(problems);
}
