/**
 * The StagingStore keeps every source's records, each source's checkpoint, the runs and the exports.
 * Its promise: `commit` writes a batch's records *and* its checkpoint in one transaction, so after a
 * crash anywhere the store holds exactly the batches before the last checkpoint. Every read of records
 * names a tenant: there is no way to read across tenants. See `sqlite.ts` (the embedded default) and
 * `postgres.ts` as examples.
 */
import type { Batch, BatchRows, Checkpoint, Field, StagedRecord } from '../core/record';
import type { Delivery, IntakeResult } from './intake';
import type { SyncStore } from './sync-store';

export type { Delivery, IntakeResult } from './intake';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'abandoned';

export interface RunRow {
  id: string;
  pipeline: string;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  read: number;
  staged: number;
  unchanged: number;
  exported: number;
  errorCode: string | null;
  error: string | null;
}

export interface CommitCounts {
  read: number;
  /** new or changed records written */
  staged: number;
  /** records whose content hash matched what was staged */
  unchanged: number;
  /** the same by tenant (read and staged; unchanged is their difference), for the metrics */
  byTenant?: Record<string, { read: number; staged: number }>;
}

/** Counts by tenant from the tenants of the records read and of those written. */
export function countByTenant(read: Iterable<string>, staged: Iterable<string>): Record<string, { read: number; staged: number }> {
  // no prototype: a tenant may be called `__proto__`, and must not reach Object.prototype
  const out: Record<string, { read: number; staged: number }> = Object.create(null);
  for (const t of read) (out[t] ??= { read: 0, staged: 0 }).read++;
  for (const t of staged) (out[t] ??= { read: 0, staged: 0 }).staged++;
  return out;
}

/** Which records of one tenant and source to read: changes after `afterSeq` up to `upToSeq`. */
export interface RecordQuery {
  pipeline: string;
  source: string;
  afterSeq: number;
  upToSeq: number;
  op: 'upsert' | 'delete';
  /** Pushed sources: only records staged by a delivery received at or after this time (ISO-8601). */
  deliveredSince?: string;
  /**
   * The records as a refined pipeline exports them: the refined data where refinement succeeded, the
   * original where a step failed on it or a person released it; quarantined and filtered ones are left out.
   */
  refined?: boolean;
  /** For a refine pass: only records whose outcome did not come from this chain version (or have none). */
  notRefinedBy?: string;
  /** `readJsonLines`: each line also carries its lineage as a `_sluice` member (see core/lineage). */
  lineage?: boolean;
}

/** One record's refine outcome, to keep beside it. */
export interface RefinedRow {
  key: string;
  /** The change sequence of the staged version that was refined. */
  seq: number;
  status: 'refined' | 'filtered' | 'quarantined' | 'failed' | 'pending';
  /** The refined record (JSON), for `refined`. */
  refined: string | null;
  /** JSON: failures, error or reason, and provenance. */
  detail: string;
  /** The chain version that produced it; null for `pending`, which the next pass refines again. */
  version: string | null;
}

export interface ExportRow {
  id: string;
  pipeline: string;
  target: string;
  tenant: string;
  dir: string;
  full: boolean;
  /** per source, the highest change sequence this export includes */
  seqs: Record<string, number>;
  rows: number;
  runId: string | null;
  createdAt: string;
}

export interface StreamRow {
  source: string;
  checkpoint: Checkpoint | null;
  fields: Field[] | null;
  runId: string | null;
  /** see `highWater` */
  highWater: number;
  updatedAt: string | null;
}

export interface TenantCount {
  tenant: string;
  source: string;
  records: number;
  deleted: number;
  /** Refined pipelines: records held back (quarantined) and records a step failed on. */
  quarantined: number;
  failed: number;
}

export interface LlmUsageRow {
  tenant: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  calls: number;
  cached: number;
  cost: number | null;
}

/** One alert's state for one instance (`''`, or a source), versioned so only one process moves it. */
export interface AlertStateRow {
  pipeline: string;
  alert: string;
  instance: string;
  state: 'inactive' | 'pending' | 'firing';
  sinceMs: number | null;
  firedMs: number | null;
  notifiedMs: number | null;
  value: number | null;
  version: number;
}

export interface AuditEntry {
  actor: string;
  action: string;
  pipeline?: string;
  tenant?: string;
  detail?: Record<string, unknown>;
}

export interface AuditRow extends Required<Omit<AuditEntry, 'pipeline' | 'tenant'>> {
  id: number;
  at: string;
  pipeline: string | null;
  tenant: string | null;
}

export interface AuditQuery {
  pipeline?: string;
  tenant?: string;
  /** ISO-8601 */
  since?: string;
  /** an action or its prefix (`alert.`) */
  action?: string;
  limit: number;
}

/** An API token, without its secret (only the secret's hash is kept). */
export interface ApiTokenRow {
  id: string;
  name: string;
  /** null: an admin token */
  tenant: string | null;
  createdAt: string;
  revokedAt: string | null;
  /** null: it does not expire */
  expiresAt: string | null;
}

/** A data-source connection: the URL sealed (it carries the credentials), and shown with them masked. */
export interface ConnectionRow {
  id: string;
  tenant: string;
  name: string;
  kind: 'postgres' | 'mysql' | 'sqlite' | 'http';
  sealedUrl: string;
  shownUrl: string;
  createdAt: string;
  updatedAt: string;
}

/** A record a refine step held back or failed on, with why. */
export interface HeldRecord {
  source: string;
  tenant: string;
  key: string;
  seq: number;
  status: 'quarantined' | 'failed';
  /** The staged record (JSON). */
  data: string;
  /** JSON: failures or error, the deciding step, provenance. */
  detail: string;
}

export interface StagingStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Where the store is, without credentials, for messages. */
  readonly location: string;
  /** The batch row shapes `commit` takes natively, best first. */
  readonly accepts: readonly BatchRows['kind'][];

  /** Creates or updates the store's tables. */
  migrate(): Promise<void>;
  /** Whether the tables exist (a dry run reads an unmigrated store as empty rather than creating it). */
  isMigrated(): Promise<boolean>;

  /** Takes the pipeline's run lock or throws `SLUICE_LOCKED`; it holds across processes and dies with its holder. */
  lock(pipeline: string): Promise<{ release(): Promise<void> }>;

  /** Records a new run; marks earlier `running` runs of the pipeline (whose process died) as abandoned. */
  startRun(pipeline: string, id: string): Promise<void>;
  finishRun(id: string, outcome: { status: RunStatus; exported?: number; errorCode?: string; error?: string }): Promise<void>;
  runs(pipeline: string, limit: number): Promise<RunRow[]>;
  run(id: string): Promise<RunRow | undefined>;
  /** Forgets a source's checkpoint, so its next run reads from the start; returns the one it had. */
  resetCheckpoint(pipeline: string, source: string): Promise<Checkpoint | undefined>;
  /** Runs of a pipeline that finished since a time (ISO-8601), by outcome, and when the last success finished. */
  runOutcomes(pipeline: string, since: string): Promise<{ finished: number; failed: number; lastSuccess: string | null }>;
  alertStates(pipeline?: string): Promise<AlertStateRow[]>;
  /** Saves an alert state if nobody moved it since it was read (its version is the one before); false otherwise. */
  saveAlertState(next: AlertStateRow): Promise<boolean>;
  /** The audit log: appended to, never changed. */
  appendAudit(entries: AuditEntry | readonly AuditEntry[]): Promise<void>;
  audit(query: AuditQuery): Promise<AuditRow[]>;
  /** Retention: removes entries older than `before` (ISO-8601); returns how many. */
  pruneAudit(before: string): Promise<number>;
  addApiToken(token: { id: string; name: string; tenant: string | null; hash: string; expiresAt: string | null }): Promise<void>;
  apiToken(id: string): Promise<(ApiTokenRow & { hash: string }) | undefined>;
  apiTokens(): Promise<ApiTokenRow[]>;
  revokeApiToken(id: string): Promise<boolean>;
  /** Connections of a tenant (every tenant's with null). */
  connections(tenant: string | null): Promise<ConnectionRow[]>;
  connection(id: string, tenant: string | null): Promise<ConnectionRow | undefined>;
  /** Creates or replaces a connection by id. */
  saveConnection(c: Omit<ConnectionRow, 'createdAt' | 'updatedAt'>): Promise<void>;
  deleteConnection(id: string, tenant: string | null): Promise<boolean>;

  /** The last committed checkpoint of a source, if any. */
  checkpoint(pipeline: string, source: string): Promise<Checkpoint | undefined>;
  /** Records the fields a source described; kept beside its checkpoint for manifests. */
  describeStream(pipeline: string, source: string, fields: Field[]): Promise<void>;
  streams(pipeline: string): Promise<StreamRow[]>;

  /**
   * Stages pushed deliveries in one transaction: each delivery id is recorded with its record, and an id
   * recorded before (or twice in the group) is a repeat that changes nothing. The source's checkpoint is
   * left as it is. Says, per delivery, which it was.
   */
  intake(run: { id: string; pipeline: string; source: string }, deliveries: readonly Delivery[]): Promise<IntakeResult[]>;
  /** How far a stream's records have been refined, and by which chain version. */
  refineState(pipeline: string, source: string): Promise<{ through: number; version: string | null }>;
  /**
   * Keeps refine outcomes beside their staged records (a record staged again since is left alone) and
   * the stream's progress, in one transaction. With `bump`, each record gets a new change sequence, so
   * the next export carries the new outcome (a changed chain re-refining records already exported).
   * Returns the highest change sequence it gave (0 without `bump`).
   */
  saveRefined(pipeline: string, source: string, rows: readonly RefinedRow[], opts: { bump: boolean; progress?: { through: number; version: string } }): Promise<number>;
  /** Label Studio tasks already made for these record versions (`key` → task), so none is imported twice. */
  labelStudioTasks(pipeline: string, source: string, versions: readonly { key: string; version: string }[]): Promise<Map<string, { projectId: number; taskId: number }>>;
  /** Keeps task ids, and ends the imports (below) they came from. */
  saveLabelStudioTasks(pipeline: string, source: string, rows: readonly { key: string; version: string; projectId: number; taskId: number }[]): Promise<void>;
  /** Notes an import about to be sent, so a run that dies before keeping the task ids can find the tasks. */
  startLabelStudioImports(pipeline: string, source: string, rows: readonly { key: string; version: string; projectId: number }[]): Promise<void>;
  unfinishedLabelStudioImports(pipeline: string, source: string): Promise<{ key: string; version: string; projectId: number }[]>;
  forgetLabelStudioImports(pipeline: string, source: string, projectId: number): Promise<void>;
  /** A cached LLM answer. */
  llmAnswer(key: string): Promise<string | undefined>;
  saveLlmAnswer(key: string, answer: string): Promise<void>;
  /** Token usage (and cost) of one run's LLM calls, per tenant and model. */
  recordLlmUsage(run: string, pipeline: string, rows: readonly LlmUsageRow[]): Promise<void>;
  /** Usage per tenant and model over the pipeline's runs. */
  llmUsage(pipeline: string): Promise<LlmUsageRow[]>;
  /** Claims one tick of a schedule for `worker`; false when another worker already has it. */
  claimTick(pipeline: string, source: string, tick: string, worker: string): Promise<boolean>;
  /** Writes a batch's records and its checkpoint in one transaction, counted into the run. */
  commit(run: { id: string; pipeline: string; source: string }, batch: Batch): Promise<CommitCounts>;
  /** For a dry run: of these keys, which are staged, for which tenant, with which hash. Reads nothing else. */
  stagedHashes(pipeline: string, source: string, keys: string[]): Promise<Map<string, { tenant: string; hash: string }>>;
  /** The content hash this store would stage for each JSON text (each store has its own function). */
  contentHashes(json: readonly (string | null)[]): Promise<string[]>;

  /** The tenants that have (or had) records in a pipeline: the ones whose exports may have changes. */
  tenants(pipeline: string): Promise<string[]>;
  /** A change sequence no record of the source exceeds (0 when it has none): the upper bound of an export. */
  highWater(pipeline: string, source: string): Promise<number>;
  /** One tenant's records of one source, in change order, a page at a time. */
  read(tenant: string, query: RecordQuery): AsyncIterable<StagedRecord[]>;
  /** Whether the tenant has a record or tombstone of the source in the change window: what an export of it would look at. */
  hasChanges(tenant: string, query: Omit<RecordQuery, 'op'>): Promise<boolean>;
  /** The data of the same records (upserts only) as JSON Lines bytes: the fast path for exporters that write JSON text. */
  readJsonLines(tenant: string, query: Omit<RecordQuery, 'op'>): AsyncIterable<Buffer>;
  /**
   * The same records as CSV rows written by the database, where it can (PostgreSQL): the fast path for
   * CSV of records whose fields are declared. `rows()` is the count once `chunks` has been read.
   * Undefined when it cannot write these columns.
   */
  countRecords(pipeline: string): Promise<TenantCount[]>;
  /** Quarantined and failed records, oldest change first. */
  held(pipeline: string, q: { source?: string; tenant?: string; key?: string; limit: number }): Promise<HeldRecord[]>;
  /** Records of a tenant in a change window that a refined export leaves out, by status (`quarantined`, `filtered`, `pending`). */
  leftOut(tenant: string, query: Omit<RecordQuery, 'op'>): Promise<Record<string, number>>;
  /** Lets quarantined or failed records be exported as they were staged; returns how many. */
  release(pipeline: string, source: string, keys: readonly string[]): Promise<number>;

  lastExport(pipeline: string, target: string, tenant: string): Promise<ExportRow | undefined>;
  addExport(row: ExportRow): Promise<void>;
  /** The newest export of each target and tenant. */
  latestExports(pipeline: string): Promise<ExportRow[]>;

  /** A sync pipeline's links, bases, checkpoints, conflict queue and events. */
  sync(pipeline: string): SyncStore;

  close(): Promise<void>;
}
