/**
 * Sluice's Prometheus metrics (prom-client), in one registry that `sluice serve` shows at `/metrics` and
 * `sluice run --metrics-file` writes in the node_exporter textfile format. Labels are pipeline, source,
 * tenant, outcome, route, status, model and step names: bounded sets, never record keys or free text.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  private readonly on = { registers: [this.registry] };

  readonly recordsRead = new Counter({ name: 'sluice_records_read_total', help: 'Records read from sources.', labelNames: ['pipeline', 'source', 'tenant'], ...this.on });
  readonly recordsStaged = new Counter({
    name: 'sluice_records_staged_total',
    help: 'Records written to the staging store (new or changed).',
    labelNames: ['pipeline', 'source', 'tenant'],
    ...this.on,
  });
  readonly recordsUnchanged = new Counter({
    name: 'sluice_records_unchanged_total',
    help: 'Records read again with the same content, not written.',
    labelNames: ['pipeline', 'source', 'tenant'],
    ...this.on,
  });
  readonly recordsRefined = new Counter({
    name: 'sluice_records_refined_total',
    help: 'Refine outcomes: refined, filtered, quarantined, failed, pending.',
    labelNames: ['pipeline', 'source', 'outcome'],
    ...this.on,
  });
  readonly recordsExported = new Counter({ name: 'sluice_records_exported_total', help: 'Records written to export datasets.', labelNames: ['pipeline', 'tenant'], ...this.on });
  readonly runs = new Counter({ name: 'sluice_runs_total', help: 'Finished runs by outcome (succeeded, failed, cancelled).', labelNames: ['pipeline', 'outcome'], ...this.on });
  readonly runsInProgress = new Gauge({ name: 'sluice_runs_in_progress', help: 'Runs under way.', labelNames: ['pipeline'], ...this.on });
  readonly runDuration = new Histogram({
    name: 'sluice_run_duration_seconds',
    help: 'Run duration, start to finish.',
    labelNames: ['pipeline', 'outcome'],
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    ...this.on,
  });
  readonly batchCommit = new Histogram({
    name: 'sluice_batch_commit_duration_seconds',
    help: 'Time to commit one batch and its checkpoint to the staging store.',
    labelNames: ['pipeline', 'source'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ...this.on,
  });
  /** `pipeline\0source` → the newest cursor staged, as a time (ms): the lag is computed when scraped */
  private readonly cursors = new Map<string, number>();
  readonly checkpointLag = new Gauge({
    name: 'sluice_checkpoint_lag_seconds',
    help: 'Now minus the newest cursor staged, for sources whose cursor is a time.',
    labelNames: ['pipeline', 'source'],
    ...this.on,
    collect: () => {
      for (const [id, at] of this.cursors) {
        const [pipeline, source] = id.split('\u0000') as [string, string];
        this.checkpointLag.set({ pipeline, source }, Math.max(0, (Date.now() - at) / 1000));
      }
    },
  });

  /** The newest cursor a source has staged, when it is a time. */
  cursorStaged(pipeline: string, source: string, atMs: number): void {
    this.cursors.set(`${pipeline}\u0000${source}`, atMs);
  }
  readonly lastSuccess = new Gauge({ name: 'sluice_last_success_timestamp_seconds', help: 'When the last successful run finished (Unix time).', labelNames: ['pipeline'], ...this.on });
  readonly webhookRequests = new Counter({
    name: 'sluice_webhook_requests_total',
    help: 'Webhook requests by route and HTTP status.',
    labelNames: ['route', 'pipeline', 'source', 'status'],
    ...this.on,
  });
  readonly retries = new Counter({ name: 'sluice_retries_total', help: 'Retried requests to sources and services.', labelNames: ['pipeline', 'component'], ...this.on });
  readonly llmTokens = new Counter({ name: 'sluice_llm_tokens_total', help: 'LLM tokens used.', labelNames: ['pipeline', 'tenant', 'model', 'kind'], ...this.on });
  readonly llmCost = new Counter({ name: 'sluice_llm_cost_total', help: 'LLM cost, in the currency of the pipeline file\'s prices.', labelNames: ['pipeline', 'tenant', 'model'], ...this.on });
  readonly syncRecords = new Counter({
    name: 'sluice_sync_records_total',
    help: 'Records two-way sync handled, by side and action (created, updated, deleted, conflicts, queued, skipped, failed).',
    labelNames: ['pipeline', 'side', 'action'],
    ...this.on,
  });
  readonly syncQueued = new Gauge({ name: 'sluice_sync_conflicts_open', help: 'Sync conflicts waiting in the queue after the last run.', labelNames: ['pipeline'], ...this.on });
  readonly syncBreakerOpen = new Gauge({
    name: 'sluice_sync_breaker_open',
    help: '1 while the circuit breaker of a sync side is open (the side is left alone), else 0.',
    labelNames: ['pipeline', 'side'],
    ...this.on,
  });
  /** who can count held records (a staging store), asked only when the metrics are read */
  private readonly heldCounters = new Map<string, () => Promise<{ pipeline: string; source: string; n: number }[]>>();
  readonly quarantined = new Gauge({
    name: 'sluice_records_quarantined',
    help: 'Records held in quarantine now.',
    labelNames: ['pipeline', 'source'],
    ...this.on,
    // counting means a scan of the records: done when scraped, never on a run's way
    collect: async () => {
      this.quarantined.reset();
      for (const count of this.heldCounters.values()) for (const c of await count()) this.quarantined.set({ pipeline: c.pipeline, source: c.source }, c.n);
    },
  });

  /** Counts held records when the metrics are read; the returned function stops it. */
  countHeld(id: string, count: () => Promise<{ pipeline: string; source: string; n: number }[]>): () => void {
    this.heldCounters.set(id, count);
    return () => void this.heldCounters.delete(id);
  }
  readonly pending = new Gauge({
    name: 'sluice_records_pending',
    help: 'Records the last refine pass left waiting (Label Studio tasks awaiting annotation, an LLM budget).',
    labelNames: ['pipeline', 'source'],
    ...this.on,
  });
  private readonly pools = new Map<string, () => number>();
  readonly poolInUse = new Gauge({
    name: 'sluice_staging_pool_connections_in_use',
    help: 'Staging store connections in use.',
    labelNames: ['store'],
    ...this.on,
    collect: () => {
      this.poolInUse.reset();
      for (const [store, used] of this.pools) this.poolInUse.set({ store }, used());
    },
  });

  /** Reports a staging store's connections in use while it is open; the returned function stops it. */
  trackPool(store: string, used: () => number): () => void {
    this.pools.set(store, used);
    return () => void this.pools.delete(store);
  }

  /** The text exposition format (what `/metrics` answers and the textfile holds). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The process's metrics: every run and request of this process adds to them. */
export const metrics = new Metrics();
