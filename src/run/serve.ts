/**
 * What `sluice serve` runs, apart from HTTP: the push intake of every pushed source (./push-intakes),
 * the schedules (./schedules), the syncs of sides that listen for changes, the runs Label Studio's
 * webhooks and the API ask for, and health. A pipeline's runs here never overlap, whoever starts them
 * (./pipeline-runs).
 */
import { randomUUID } from 'node:crypto';
import { msg } from '../core/i18n';
import { hostname } from 'node:os';
import { asError, messageOf, SluiceError } from '../core/errors';
import type { GroupCommitOptions } from '../core/group-commit';
import { newRunId } from '../core/ids';
import { metrics } from '../observe/metrics';
import { sameSecret } from '../core/same-secret';
import { Slots } from '../core/slots';
import type { Environment } from '../config/env';
import { duration } from '../config/parts';
import type { WebhookHeaders } from '../extract/push/verify';
import { openStore } from '../stage/open';
import type { AuditQuery, AuditRow, StagingStore } from '../stage/store';
import { Alerting, type AlertingOptions } from './alerting';
import { ownerOf, type Pipeline } from './pipeline';
import { PipelineRuns } from './pipeline-runs';
import { PushIntakes, type HookAnswer } from './push-intakes';
import { Schedules, type ScheduleState, type TickEvent } from './schedules';
import { heldCounts, runPipeline, type RunSummary } from './run';
import { stagingUrl } from './staging';
import { listenForChanges, runSync, type SyncSummary } from './sync';

export interface ServeOptions {
  env?: Environment;
  /** `--staging`, which wins over the environment and the files. */
  stagingUrl?: string;
  groupCommit?: Partial<GroupCommitOptions>;
  log?(event: ServeEvent): void;
  /** How often alert rules are evaluated (default 30 s); 0 leaves it to whoever calls `alerting.evaluate()`. */
  alertIntervalMs?: number;
  alerting?: AlertingOptions;
  /** An admin bearer token for `/api/v1` (default `SLUICE_ADMIN_TOKEN`), beside the tokens in the stores. */
  adminToken?: string;
  /** API requests per token (default `SLUICE_API_RATE` a second, else 20, with bursts of twice that). */
  apiRate?: { perSecond: number; burst: number };
}

export type ServeEvent =
  | { type: 'run'; pipeline: string; source: string; tick: string; summary: RunSummary }
  | { type: 'sync'; pipeline: string; source: string; tick: string; summary: SyncSummary }
  | TickEvent;

export type { HookAnswer } from './push-intakes';

/** The name a sync pipeline's schedule and runs go by, where a source's name would be. */
const SYNC = 'sync';
/** Notifications within this long of the first make one sync run. */
const LISTEN_DEBOUNCE_MS = 100;

export class Service {
  /** Names this process in claimed ticks and in the run id of pushed records. */
  readonly worker = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private readonly pushes: PushIntakes;
  private readonly runs = new PipelineRuns();
  private readonly schedules = new Schedules({ runs: this.runs, worker: this.worker, log: (e) => this.opts.log?.(e) });
  /** Runs started through the API and not over, by id, so they can be cancelled. */
  private readonly apiRuns = new Map<string, { pipeline: string; controller: AbortController }>();
  private closing = false;
  /** Sync runs about to start after a change notification, by pipeline. */
  private readonly soon = new Map<string, NodeJS.Timeout>();
  /** How to stop listening for change notifications. */
  private readonly listeners: (() => Promise<void>)[] = [];

  /** Alert rules of the pipelines that have any, evaluated on a timer. */
  readonly alerting?: Alerting;
  private pruning?: NodeJS.Timeout;
  /** what this server reports into the metrics, taken back when it closes */
  private readonly untrack: (() => void)[] = [];

  private constructor(
    private readonly pipelines: ReadonlyMap<string, Pipeline>,
    private readonly stores: ReadonlyMap<string, StagingStore>,
    private readonly opts: ServeOptions,
  ) {
    this.pushes = new PushIntakes(opts.groupCommit);
    const watched = [...pipelines.values()].filter((p) => p.alerts.length > 0);
    if (watched.length > 0) this.alerting = new Alerting(watched, (p) => this.stores.get(stagingUrl(p, this.opts))!, opts.alerting);
  }

  /** The served pipelines, by name. */
  get served(): ReadonlyMap<string, Pipeline> {
    return this.pipelines;
  }

  /** The staging store a served pipeline uses. */
  storeOf(pipeline: Pipeline): StagingStore {
    return this.stores.get(stagingUrl(pipeline, this.opts))!;
  }

  /** The first served pipeline's store: where API-made things (connections) are kept. */
  get primaryStore(): StagingStore {
    return this.storeOf(this.pipelines.values().next().value!);
  }

  /** The environment the server reads its settings from. */
  get env(): Environment {
    return this.opts.env ?? process.env;
  }

  /** Every staging store this server has open (API tokens live in them). */
  get allStores(): Iterable<StagingStore> {
    return this.stores.values();
  }

  /** The audit logs of the served pipelines' stores, newest first. */
  async audit(q: AuditQuery): Promise<AuditRow[]> {
    const rows = (await Promise.all([...this.stores.values()].map((s) => s.audit(q)))).flat();
    return rows.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : b.id - a.id)).slice(0, q.limit);
  }

  /** Audit entries older than the retention (`SLUICE_AUDIT_RETENTION`, default 365 days) are removed daily. */
  private async pruneAudit(): Promise<void> {
    const text = this.env.SLUICE_AUDIT_RETENTION ?? '365d';
    const kept = duration.safeParse(text);
    if (!kept.success) throw new SluiceError('SLUICE_USAGE', msg('err.run.serve.1', { text }));
    const before = new Date(Date.now() - kept.data * 1000).toISOString();
    for (const store of this.stores.values()) await store.pruneAudit(before);
  }

  /** API requests allowed per token. */
  get apiRate(): { perSecond: number; burst: number } {
    if (this.opts.apiRate) return this.opts.apiRate;
    const perSecond = Number(this.env.SLUICE_API_RATE ?? 20);
    if (!(perSecond > 0)) throw new SluiceError('SLUICE_USAGE', msg('err.run.serve.2'));
    return { perSecond, burst: perSecond * 2 };
  }

  /** The admin bearer token from the environment, if there is one. */
  get adminToken(): string | undefined {
    return this.opts.adminToken ?? this.env.SLUICE_ADMIN_TOKEN;
  }

  /** Opens (and migrates) each staging store the pipelines use, and prepares their intakes. */
  static async open(pipelines: Pipeline[], opts: ServeOptions = {}): Promise<Service> {
    const byName = new Map<string, Pipeline>();
    for (const p of pipelines) {
      if (byName.has(p.name)) throw new SluiceError('SLUICE_USAGE', msg('err.run.serve.3', { name: p.name }));
      byName.set(p.name, p);
    }
    const stores = new Map<string, StagingStore>();
    try {
      for (const p of pipelines) {
        const url = stagingUrl(p, opts);
        if (stores.has(url)) continue;
        const store = openStore(url);
        stores.set(url, store);
        await store.migrate();
      }
    } catch (err) {
      await Promise.all([...stores.values()].map((s) => s.close().catch(() => undefined)));
      throw err;
    }
    const service = new Service(byName, stores, opts);
    for (const p of pipelines) for (const s of p.sources) if (s.push) service.pushes.add(p, s, service.storeOf(p), `serve:${service.worker}`);
    for (const p of pipelines) service.untrack.push(metrics.countHeld(`serve/${p.name}`, () => heldCounts(service.storeOf(p), p)));
    if ((opts.alertIntervalMs ?? 30_000) > 0) service.alerting?.start(opts.alertIntervalMs ?? 30_000);
    await service.pruneAudit();
    service.pruning = setInterval(() => void service.pruneAudit().catch(() => undefined), 24 * 3600_000);
    service.pruning.unref();
    return service;
  }

  /** The HTTP server's own body limit: the largest any route accepts (each pushed source checks its own). */
  get maxBodyBytes(): number {
    // Label Studio's webhook bodies carry the task and project: a floor of 10 MiB for them
    return Math.max(10 * 1024 * 1024, this.pushes.maxBodyBytes);
  }

  /** Verifies and stages one webhook delivery; answers only after it is committed (./push-intakes). */
  receive(pipeline: string, source: string, headers: WebhookHeaders, body: Buffer): Promise<HookAnswer> {
    return this.pushes.receive(pipeline, source, headers, body);
  }

  /**
   * A Label Studio webhook: Label Studio signs nothing, so the configured secret header is compared in
   * constant time. An annotation action starts a run of the pipeline at once (staging nothing new, it
   * refines what waits and exports it); a run under way is followed by one more.
   */
  labelStudioHook(pipeline: string, headers: WebhookHeaders, body: Buffer): HookAnswer {
    const p = this.pipelines.get(pipeline);
    const hooks = p ? p.refine.flatMap((s) => ('labelStudio' in s && s.labelStudio.webhook ? [s.labelStudio.webhook] : [])) : [];
    if (!p || hooks.length === 0) return { status: 404, body: { error: 'not_found', reason: `no Label Studio webhook configured for a pipeline ${pipeline} here` } };
    if (!hooks.some((h) => secretMatches(headers[h.header.toLowerCase()], h.secret))) {
      return { status: 401, body: { error: 'unauthorized', reason: `missing or wrong ${hooks[0]!.header} header` } };
    }
    let action: unknown;
    try {
      action = (JSON.parse(body.toString('utf8')) as { action?: unknown }).action;
    } catch {
      return { status: 400, body: { error: 'bad_request', reason: 'the body is not JSON' } };
    }
    if (typeof action !== 'string' || !ANNOTATION_ACTIONS.has(action)) return { status: 200, body: { status: 'ignored', action: action ?? null } };
    this.refineSoon(p);
    return { status: 202, body: { status: 'queued', action } };
  }

  /** Starts every source's schedule, and every sync pipeline's. */
  startSchedules(): void {
    for (const p of this.pipelines.values()) {
      for (const s of p.sources) {
        if (!s.schedule) continue;
        this.schedules.add(p.name, s.name, s.schedule, this.storeOf(p), async (tick) => {
          const summary = await runPipeline(p, { env: this.opts.env, stagingUrl: this.opts.stagingUrl, sources: [s.name], actor: 'schedule' });
          this.opts.log?.({ type: 'run', pipeline: p.name, source: s.name, tick, summary });
          return summary.finishedAt;
        });
      }
      if (p.sync?.schedule) this.schedules.add(p.name, SYNC, p.sync.schedule, this.storeOf(p), (tick) => this.sync(p, 'schedule', true, tick));
    }
  }

  /** Syncs the pipelines whose sides say `listen: true` as soon as a change is notified. */
  async startListeners(): Promise<void> {
    for (const p of this.pipelines.values()) {
      if (!p.sync || !(p.sync.a.listen || p.sync.b.listen)) continue;
      this.listeners.push(await listenForChanges(p, () => this.syncSoon(p)));
    }
  }

  /** One sync run; its finish time. */
  private async sync(p: Pipeline, actor: string, scanDeletes: boolean, tick = new Date().toISOString()): Promise<string> {
    const summary = await runSync(p, { env: this.opts.env, stagingUrl: this.opts.stagingUrl, actor, scanDeletes });
    this.opts.log?.({ type: 'sync', pipeline: p.name, source: SYNC, tick, summary });
    return new Date().toISOString();
  }

  /**
   * A change was notified: sync shortly (notifications that come together make one run), or once more
   * after the run under way. Deletes are left to the scheduled runs, which look at every link.
   */
  private syncSoon(p: Pipeline): void {
    if (this.closing || this.soon.has(p.name)) return;
    const sync = () =>
      this.sync(p, 'listen', false).then(
        () => undefined,
        (err: unknown) => this.runFailed(p, SYNC, new Date().toISOString(), err),
      );
    this.soon.set(
      p.name,
      setTimeout(() => {
        this.soon.delete(p.name);
        this.runs.soon(p.name, sync);
      }, LISTEN_DEBOUNCE_MS),
    );
  }

  async health(): Promise<{ status: 'ok' | 'failing'; stores: { location: string; ok: boolean; error?: string }[]; schedules: ScheduleState[]; intake: unknown[] }> {
    const stores = await Promise.all(
      [...this.stores.values()].map(async (s) => {
        try {
          await s.isMigrated();
          return { location: `${s.kind} ${s.location}`, ok: true };
        } catch (err) {
          return { location: `${s.kind} ${s.location}`, ok: false, error: messageOf(err) };
        }
      }),
    );
    return {
      status: stores.every((s) => s.ok) ? 'ok' : 'failing',
      stores,
      schedules: this.schedules.states,
      intake: this.pushes.states,
    };
  }

  /**
   * Starts a run of a pipeline now and answers with its id at once. A run of the same pipeline under way
   * here goes first: this one waits for it (runs of a pipeline never overlap).
   */
  startRun(pipelineName: string, o: { full?: boolean; actor: string }): { run: string; queued: boolean } | undefined {
    const p = this.pipelines.get(pipelineName);
    if (!p || this.closing) return undefined;
    const run = newRunId();
    const controller = new AbortController();
    // a pipeline wholly one tenant's also takes one of that tenant's run slots (SLUICE_TENANT_RUNS)
    const owner = ownerOf(p);
    const slots = owner === null ? undefined : this.slotsOf(owner);
    const queued = this.runs.busy(p.name) || (slots?.full ?? false);
    this.apiRuns.set(run, { pipeline: p.name, controller });
    void this.runs.start(p.name, async (before) => {
      try {
        await before?.catch(() => undefined);
        const release = await slots?.acquire();
        try {
          await runPipeline(p, { env: this.opts.env, stagingUrl: this.opts.stagingUrl, full: o.full, actor: o.actor, runId: run, signal: controller.signal });
        } finally {
          release?.();
        }
      } catch (err) {
        // a run's outcome is in the store and the audit log; one that could not even start (its lock held
        // by another process) is logged here
        this.runFailed(p, '', run, err);
      } finally {
        this.apiRuns.delete(run);
      }
    });
    return { run, queued };
  }

  private readonly tenantSlots = new Map<string, Slots>();

  private slotsOf(tenant: string): Slots {
    let slots = this.tenantSlots.get(tenant);
    if (!slots) {
      const n = Number(this.env.SLUICE_TENANT_RUNS ?? 1);
      if (!(Number.isInteger(n) && n >= 1)) throw new SluiceError('SLUICE_USAGE', msg('err.run.serve.tenant_runs', { value: String(this.env.SLUICE_TENANT_RUNS) }));
      this.tenantSlots.set(tenant, (slots = new Slots(n)));
    }
    return slots;
  }

  /** Cancels a run started here; false when it is not (or no longer) under way here. */
  cancelRun(run: string): boolean {
    const started = this.apiRuns.get(run);
    started?.controller.abort();
    return started !== undefined;
  }

  /** The pipeline of a run started here that is not over yet (queued or running). */
  apiRunPipeline(run: string): string | undefined {
    return this.apiRuns.get(run)?.pipeline;
  }

  /** Stops the schedules, lets runs under way and waiting deliveries finish, and closes the stores. */
  async close(): Promise<void> {
    this.closing = true;
    // deliveries are refused from here on; those taken are committed
    const pushed = this.pushes.close();
    await this.schedules.stop();
    clearInterval(this.pruning);
    for (const stop of this.untrack) stop();
    await this.alerting?.stop();
    for (const timer of this.soon.values()) clearTimeout(timer);
    await Promise.all(this.listeners.map((stop) => stop()));
    await pushed;
    await this.runs.stop();
    await Promise.all([...this.stores.values()].map((s) => s.close()));
  }

  private refineSoon(p: Pipeline): void {
    if (this.closing) return;
    this.runs.soon(p.name, () =>
      runPipeline(p, { env: this.opts.env, stagingUrl: this.opts.stagingUrl, sources: [], actor: 'label-studio' }).then(
        (summary) => this.opts.log?.({ type: 'run', pipeline: p.name, source: 'label-studio', tick: new Date().toISOString(), summary }),
        (err: unknown) => this.runFailed(p, 'label-studio', new Date().toISOString(), err),
      ),
    );
  }

  /** Logs a run that failed, or could not start, outside any request that could answer with it. */
  private runFailed(p: Pipeline, source: string, tick: string, err: unknown): void {
    this.opts.log?.({ type: 'run-failed', pipeline: p.name, source, tick, error: asError(err) });
  }

}

const ANNOTATION_ACTIONS = new Set(['ANNOTATION_CREATED', 'ANNOTATIONS_CREATED', 'ANNOTATION_UPDATED', 'ANNOTATIONS_DELETED']);

function secretMatches(value: string | string[] | undefined, secret: string): boolean {
  const given = Array.isArray(value) ? value[0] : value;
  if (given === undefined) return false;
  return sameSecret(given.replace(/^Bearer\s+/i, ''), secret.replace(/^Bearer\s+/i, ''));
}
