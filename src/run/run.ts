/**
 * A run's lifecycle: open the staging store, take the pipeline's lock, record the run, then for each
 * source read batches from its last checkpoint and commit each (records and checkpoint together),
 * then export what changed, per tenant. Whatever fails, committed batches stay committed, the run is
 * recorded with its error, and the lock is released.
 */
import { resolve } from 'node:path';
import { msg } from '../core/i18n';
import { EXPORTERS } from '../../exporters';
import { SluiceError, isSluiceError, messageOf, type ErrorContext } from '../core/errors';
import { newRunId } from '../core/ids';
import { batchSize } from '../core/record';
import { readAhead } from '../core/read-ahead';
import type { Environment } from '../config/env';
import { newestCursor } from '../extract/cursor';
import { metrics } from '../observe/metrics';
import type { ExtractContext, Extractor } from '../extract/extractor';
import { UsageMeter } from '../refine/llm/llm';
import type { LlmUsageRow } from '../stage/store';
import { recordUsage, refineChain, refineSource, type RefineCounts } from './refine';
import { pullExtractor, readerFor } from '../extract/registry';
import type { Exporter } from '../export/exporter';
import { exportDatasets, type ExportGroup, type TenantExport } from '../export/runner';
import { openExistingStore, openStore } from '../stage/open';
import { stagingUrl } from './staging';
import type { StagingStore } from '../stage/store';
import type { Pipeline, PipelineSource } from './pipeline';

export interface RunOptions {
  /** Write every current record to each export instead of the changes since the previous one. */
  full?: boolean;
  /** `--staging`, which wins over the environment and the file. */
  stagingUrl?: string;
  env?: Environment;
  /** Stage only these sources (a schedule's); every source is still exported. Default: all of them. */
  sources?: readonly string[];
  signal?: AbortSignal;
  onProgress?(event: ProgressEvent): void;
  /** Who started the run, for the audit log: `cli` (default), `schedule`, a token id. */
  actor?: string;
  /** The run's id, when the caller must know it before the run starts (the API answers with it). */
  runId?: string;
}

export type ProgressEvent =
  | { type: 'source'; source: string }
  | { type: 'batch'; source: string; read: number; staged: number; unchanged: number }
  | { type: 'export'; rows: number };

export interface SourceCounts {
  name: string;
  read: number;
  staged: number;
  unchanged: number;
  batches: number;
}

export interface RunSummary {
  pipeline: string;
  run: string;
  status: 'succeeded';
  staging: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  sources: SourceCounts[];
  /** Per source, what the refine pass made of the records it refined (pipelines with `refine:`). */
  refined?: Record<string, RefineCounts>;
  /** LLM tokens (and cost) this run, per tenant and model. */
  llm?: LlmUsageRow[];
  exports: Omit<TenantExport, 'files'>[];
  peakRssBytes: number;
}

export async function runPipeline(pipeline: Pipeline, opts: RunOptions = {}): Promise<RunSummary> {
  const started = new Date();
  const signal = opts.signal ?? new AbortController().signal;
  const store = openStore(stagingUrl(pipeline, opts));
  let outcome: 'succeeded' | 'failed' | 'cancelled' = 'failed';
  try {
    await store.migrate();
    const lock = await store.lock(pipeline.name);
    const timer = metrics.runDuration.startTimer({ pipeline: pipeline.name });
    metrics.runsInProgress.inc({ pipeline: pipeline.name });
    try {
      const run = opts.runId ?? newRunId();
      await store.startRun(pipeline.name, run);
      try {
        const sources: SourceCounts[] = [];
        const before = new Map<string, number>();
        for (const s of pipeline.sources) before.set(s.name, await store.highWater(pipeline.name, s.name));
        for (const source of pipeline.sources) {
          signal.throwIfAborted();
          // pushed sources are staged as deliveries arrive (`sluice serve`); a run exports them
          if (source.push || (opts.sources && !opts.sources.includes(source.name))) continue;
          sources.push(await stageSource(store, pipeline, source, run, signal, opts));
        }
        const usage = new UsageMeter();
        const chain = refineChain(pipeline, store, usage);
        const refined: Record<string, RefineCounts> = {};
        if (!chain.empty) {
          for (const source of pipeline.sources) refined[source.name] = await refineSource(store, pipeline, source.name, chain, before.get(source.name)!, signal);
        }
        const llm = await recordUsage(store, pipeline, run, usage);
        const exports = await exportDatasets(store, {
          pipeline: pipeline.name,
          sources: pipeline.sources.map((s) => s.name),
          groups: exportGroups(pipeline),
          full: opts.full ?? false,
          refined: !chain.empty,
          refine: chain.empty ? undefined : { version: chain.version, steps: chain.steps },
          runId: run,
          signal,
          onRows: (rows) => opts.onProgress?.({ type: 'export', rows }),
        });
        await store.finishRun(run, { status: 'succeeded', exported: exports.reduce((n, e) => n + e.rows, 0) });
        const actor = opts.actor ?? 'cli';
        await store.appendAudit([
          ...exports.map((e) => ({ actor, action: 'export.published', pipeline: pipeline.name, tenant: e.tenant, detail: { run, export: e.id, kind: e.kind, rows: e.rows, deleted: e.deleted, dir: e.dir } })),
          { actor, action: 'run.succeeded', pipeline: pipeline.name, detail: { run, read: sources.reduce((n, x) => n + x.read, 0), exported: exports.length } },
        ]);
        const finished = new Date();
        countRun(pipeline.name, { refined, llm, exports });
        metrics.lastSuccess.set({ pipeline: pipeline.name }, finished.getTime() / 1000);
        outcome = 'succeeded';
        return {
          pipeline: pipeline.name,
          run,
          status: 'succeeded',
          staging: `${store.kind} ${store.location}`,
          startedAt: started.toISOString(),
          finishedAt: finished.toISOString(),
          durationMs: finished.getTime() - started.getTime(),
          sources,
          ...(chain.empty ? {} : { refined }),
          ...(llm.length > 0 ? { llm } : {}),
          exports: exports.map(({ files: _files, ...e }) => e),
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
        };
      } catch (err) {
        outcome = signal.aborted ? 'cancelled' : 'failed';
        const failure = asRunError(err, signal, { pipeline: pipeline.name, run });
        await store
          .finishRun(run, { status: signal.aborted ? 'cancelled' : 'failed', errorCode: failure.code, error: failure.message })
          .then(() => store.appendAudit({ actor: opts.actor ?? 'cli', action: `run.${outcome}`, pipeline: pipeline.name, detail: { run, code: failure.code, error: failure.message } }))
          .catch(() => undefined); // the store may be what failed; the original error matters more
        throw failure;
      }
    } finally {
      metrics.runsInProgress.dec({ pipeline: pipeline.name });
      metrics.runs.inc({ pipeline: pipeline.name, outcome });
      timer({ outcome });
      await lock.release();
    }
  } finally {
    await store.close();
  }
}

async function stageSource(
  store: StagingStore,
  pipeline: Pipeline,
  source: PipelineSource,
  run: string,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<SourceCounts> {
  opts.onProgress?.({ type: 'source', source: source.name });
  const extractor = createExtractor(pipeline, source, store.accepts, signal);
  const counts: SourceCounts = { name: source.name, read: 0, staged: 0, unchanged: 0, batches: 0 };
  try {
    const fields = await extractor.open();
    await store.describeStream(pipeline.name, source.name, fields);
    const from = await store.checkpoint(pipeline.name, source.name);
    const labels = { pipeline: pipeline.name, source: source.name };
    for await (const batch of readAhead(extractor.extract(from))) {
      const committed = metrics.batchCommit.startTimer(labels);
      const c = await store.commit({ id: run, pipeline: pipeline.name, source: source.name }, batch);
      committed();
      for (const [tenant, n] of Object.entries(c.byTenant ?? {})) {
        metrics.recordsRead.inc({ ...labels, tenant }, n.read);
        metrics.recordsStaged.inc({ ...labels, tenant }, n.staged);
        metrics.recordsUnchanged.inc({ ...labels, tenant }, n.read - n.staged);
      }
      const cursorAt = Date.parse(newestCursor(batch.checkpoint) ?? '');
      if (!Number.isNaN(cursorAt)) metrics.cursorStaged(pipeline.name, source.name, cursorAt);
      counts.read += c.read;
      counts.staged += c.staged;
      counts.unchanged += c.unchanged;
      if (batchSize(batch.rows) > 0) counts.batches++;
      opts.onProgress?.({ type: 'batch', source: source.name, ...c });
      signal.throwIfAborted();
    }
    return counts;
  } catch (err) {
    throw asRunError(err, signal, { pipeline: pipeline.name, source: source.name, run });
  } finally {
    await extractor.close();
  }
}

/** A successful run's outcomes into the process's metrics. */
function countRun(pipeline: string, r: { refined: Record<string, RefineCounts>; llm: LlmUsageRow[]; exports: readonly TenantExport[] }): void {
  for (const [source, counts] of Object.entries(r.refined)) {
    for (const [outcome, n] of Object.entries(counts)) metrics.recordsRefined.inc({ pipeline, source, outcome }, n);
    metrics.pending.set({ pipeline, source }, counts.pending);
  }
  for (const u of r.llm) {
    metrics.llmTokens.inc({ pipeline, tenant: u.tenant, model: u.model, kind: 'prompt' }, u.promptTokens);
    metrics.llmTokens.inc({ pipeline, tenant: u.tenant, model: u.model, kind: 'completion' }, u.completionTokens);
    if (u.cost !== null) metrics.llmCost.inc({ pipeline, tenant: u.tenant, model: u.model }, u.cost);
  }
  for (const e of r.exports) metrics.recordsExported.inc({ pipeline, tenant: e.tenant }, e.rows);
}

export function createExtractor(
  pipeline: Pipeline,
  source: PipelineSource,
  accepts: ExtractContext['accepts'],
  signal: AbortSignal,
): Extractor {
  const ctx = {
    pipeline: pipeline.name,
    source: source.name,
    tenant: (source.tenant ?? pipeline.tenant)!, // the schema guarantees one of the two
    accepts,
    signal,
  };
  if (source.pull) return pullExtractor.create(source.pull, ctx);
  return readerFor(source.read!.driver).create(source.read!, ctx); // the schema guarantees one kind
}

/** Export entries that share a path are written together, into one folder per tenant and run. */
export function exportGroups(pipeline: Pipeline): ExportGroup[] {
  const groups = new Map<string, ExportGroup>();
  for (const entry of pipeline.export) {
    const { format, path, compress, split, ...options } = entry;
    const def = EXPORTERS.find((e) => e.format === format)!;
    const exporter = (def.create as (o: unknown) => Exporter)(def.options.parse(options));
    let group = groups.get(path);
    if (!group) groups.set(path, (group = { target: path, dir: resolve(path), formats: [] }));
    group.formats.push({ format, exporter, ...(compress === 'gzip' ? { compress } : {}), ...(split ? { split } : {}) });
  }
  return [...groups.values()];
}

function asRunError(err: unknown, signal: AbortSignal, context: ErrorContext): SluiceError {
  if (signal.aborted) {
    return new SluiceError('SLUICE_RUN_CANCELLED', msg('err.run.run.1', { pipeline: context.pipeline }), context);
  }
  if (isSluiceError(err)) return err.withContext(context);
  const where = [context.pipeline, context.source].filter(Boolean).join('/');
  return new SluiceError('SLUICE_STAGING_WRITE', msg('err.run.run.2', { where, reason: messageOf(err) }), context, { cause: err });
}

/** Held records per source of a refining pipeline, for the `sluice_records_quarantined` gauge. */
export async function heldCounts(store: StagingStore, pipeline: Pipeline): Promise<{ pipeline: string; source: string; n: number }[]> {
  if (pipeline.refine.length === 0) return [];
  const held = new Map(pipeline.sources.map((s) => [s.name, 0]));
  for (const c of await store.countRecords(pipeline.name)) held.set(c.source, (held.get(c.source) ?? 0) + c.quarantined);
  return [...held].map(([source, n]) => ({ pipeline: pipeline.name, source, n }));
}

/** The process's metrics as text, with the pipeline's held records counted now (the store is opened if it exists). */
export async function metricsText(pipeline: Pipeline, opts: Pick<RunOptions, 'stagingUrl' | 'env'>): Promise<string> {
  const store = openExistingStore(stagingUrl(pipeline, opts));
  const stop = store ? metrics.countHeld('run', () => heldCounts(store, pipeline)) : undefined;
  try {
    return await metrics.text();
  } finally {
    stop?.();
    await store?.close();
  }
}
