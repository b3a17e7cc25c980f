/**
 * The export runner: for each export target and each tenant, writes the records that changed since
 * that tenant's previous export (or all of them, for a snapshot) into
 * `<path>/<pipeline>/<tenant>/<export-id>/`, with `manifest.json`. It writes into a temporary folder
 * beside it and renames that into place, so an export is whole or absent, then points `latest` at it.
 */
import { mkdir, open, readdir, rename, rm, symlink } from 'node:fs/promises';
import { msg } from '../core/i18n';
import { join } from 'node:path';
import { SluiceError, messageOf } from '../core/errors';
import { newExportId } from '../core/ids';
import { mapLimit } from '../core/map-limit';
import { withLineage } from '../core/lineage';
import type { Field, StagedRecord } from '../core/record';
import { tenantDirName } from '../core/tenant';
import type { ExportRow, StagingStore, StreamRow } from '../stage/store';
import { OutputFile, type ExportedFile, type ExportInput, type ExportTarget, type Exporter } from './exporter';
import { writeManifest, type Manifest, type SourceSummary } from './manifest';
import { splitOf, splitValue, type SplitSpec } from './split';


export type ExportKind = 'snapshot' | 'changes' | 'replay';

export interface ExportGroup {
  /** The `path` as the pipeline file gives it: the target's identity in the store. */
  target: string;
  /** The same path, resolved. */
  dir: string;
  formats: ExportFormat[];
}

export interface ExportFormat {
  format: string;
  exporter: Exporter;
  compress?: 'gzip';
  split?: SplitSpec;
}

export interface ExportRequest {
  pipeline: string;
  sources: readonly string[];
  groups: readonly ExportGroup[];
  /** Write every current record instead of the changes since the previous export. */
  full: boolean;
  /** The pipeline refines: export what the records became (see `RecordQuery.refined`). */
  refined?: boolean;
  /** The refine chain: named in the manifest, and kept with records a format rejects (they are quarantined). */
  refine?: { version: string; steps: { name: string; version: string }[] };
  runId: string;
  signal: AbortSignal;
  onRows?(rows: number): void;
  /**
   * Write again the records of pushed deliveries received since this time (ISO-8601), whatever was
   * exported before. A replay is a dataset of its own: it is not a step in the tenant's sequence of
   * exports (the next export still holds every change since the previous one) and `latest` stays put.
   */
  replay?: { since: string };
}

export interface TenantExport {
  target: string;
  tenant: string;
  id: string;
  dir: string;
  kind: ExportKind;
  rows: number;
  deleted: number;
  files: ExportedFile[];
}

export async function exportDatasets(store: StagingStore, req: ExportRequest): Promise<TenantExport[]> {
  const streams = new Map((await store.streams(req.pipeline)).map((s) => [s.source, s]));
  // the upper bound of every export of this run, read once: records committed later wait for the next one
  const highWater = Object.fromEntries(req.sources.map((source) => [source, streams.get(source)?.highWater ?? 0]));
  const tenants = await store.tenants(req.pipeline);
  const done: TenantExport[] = [];
  for (const group of req.groups) {
    const id = newExportId();
    // as many tenants at once as the group's formats gain from (see Exporter.tenantsAtOnce)
    // (a compressed file is written one at a time: zlib's buffers would pile up behind a second one)
    const atOnce = Math.max(1, ...group.formats.map((f) => (f.compress ? 1 : (f.exporter.tenantsAtOnce ?? 1))));
    const results = await mapLimit(tenants, atOnce, (tenant) => {
      req.signal.throwIfAborted();
      return exportTenant(store, req, group, { id, tenant, streams, highWater });
    });
    done.push(...results.filter((r): r is TenantExport => r !== undefined));
  }
  return done;
}

interface TenantJob {
  id: string;
  tenant: string;
  streams: Map<string, StreamRow>;
  highWater: Record<string, number>;
}

async function exportTenant(store: StagingStore, req: ExportRequest, group: ExportGroup, job: TenantJob): Promise<TenantExport | undefined> {
  const { tenant, id } = job;
  const previous = req.full || req.replay ? undefined : await store.lastExport(req.pipeline, group.target, tenant);
  const kind: ExportKind = req.replay ? 'replay' : previous ? 'changes' : 'snapshot';
  // nothing was staged since the previous export (no change sequence above what it covered): no changes
  // to look for, and no folder to make and remove (a quiet scheduled run reads no records, writes nothing)
  if (kind === 'changes' && req.sources.every((s) => (previous!.seqs[s] ?? 0) >= job.highWater[s]!)) return undefined;
  // ...or nothing of this tenant's was (other tenants' changes moved the high water): one index probe
  // per source, where making and removing a folder costs several file system operations
  if (kind === 'changes' && !(await anyChanges(store, req, previous!, job))) return undefined;
  const tenantDir = join(group.dir, req.pipeline, tenantDirName(tenant));
  const tmp = join(tenantDir, `.tmp-${id}`);
  const where = { pipeline: req.pipeline, tenant };
  try {
    await mkdir(tenantDir, { recursive: true });
    await removeStaleTemporaries(tenantDir);
    await mkdir(tmp);
    const files: ExportedFile[] = [];
    const sources: Record<string, SourceSummary> = {};
    let rows = 0;
    let deleted = 0;
    for (const source of req.sources) {
      const query = { pipeline: req.pipeline, source, afterSeq: previous?.seqs[source] ?? 0, upToSeq: job.highWater[source]!, refined: req.refined };
      const records = () => store.read(tenant, { ...query, op: 'upsert', deliveredSince: req.replay?.since });
      const input: ExportInput = {
        records,
        jsonLines: (o = {}) => (req.replay ? jsonLinesOf(records(), o.lineage) : store.readJsonLines(tenant, { ...query, lineage: o.lineage })),
      };
      const stream = job.streams.get(source);
      let sourceRows = 0;
      for (const [i, entry] of group.formats.entries()) {
        const written = await writeFormat(entry, tmp, source, stream?.fields ?? [], req.refined === true, input);
        files.push(...written);
        // the first format's count is the source's; per-image and class files are not records
        if (i === 0) sourceRows = written.filter((f) => f.role === undefined).reduce((n, f) => n + f.rows, 0);
      }
      await quarantineRejected(store, req, source, files.filter((f) => f.source === source));
      const gone = kind === 'changes' ? await writeDeletes(tmp, source, store.read(tenant, { ...query, op: 'delete' })) : undefined;
      if (gone) files.push(gone);
      rows += sourceRows;
      deleted += gone?.rows ?? 0;
      req.onRows?.(sourceRows);
      sources[source] = {
        rows: sourceRows,
        deleted: gone?.rows ?? 0,
        seq: { after: query.afterSeq, upTo: query.upToSeq },
        checkpoint: stream?.checkpoint ?? null,
        fields: stream?.fields ?? [],
        ...(req.refined && !req.replay ? { leftOut: await store.leftOut(tenant, query) } : {}),
      };
    }
    if (kind !== 'snapshot' && rows === 0 && deleted === 0) {
      await rm(tmp, { recursive: true, force: true });
      return undefined;
    }
    const createdAt = new Date().toISOString();
    await writeManifest(tmp, {
      pipeline: req.pipeline,
      tenant,
      export: id,
      kind,
      previous: previous?.id ?? null,
      run: req.runId,
      createdAt,
      sources,
      ...(req.refine ? { refine: req.refine } : {}),
      ...(splitSpecs(group) ? { splits: splitSpecs(group) } : {}),
      files,
    });
    const finalDir = join(tenantDir, id);
    await rename(tmp, finalDir);
    if (kind === 'replay') {
      await fsyncDir(tenantDir);
      return { target: group.target, tenant, id, dir: finalDir, kind, rows, deleted, files };
    }
    try {
      await store.addExport({
        id,
        pipeline: req.pipeline,
        target: group.target,
        tenant,
        dir: finalDir,
        full: kind === 'snapshot',
        seqs: Object.fromEntries(Object.entries(sources).map(([s, v]) => [s, v.seq.upTo])),
        rows,
        runId: req.runId,
        createdAt,
      });
    } catch (err) {
      // unrecorded, the export would be repeated by the next one: take it back so it is whole or absent
      await rm(finalDir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    await pointLatest(tenantDir, id);
    await fsyncDir(tenantDir);
    return { target: group.target, tenant, id, dir: finalDir, kind, rows, deleted, files };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof SluiceError) throw err.withContext(where);
    throw new SluiceError('SLUICE_EXPORT_WRITE', msg('err.export.runner.1', { pipeline: req.pipeline, tenant, tenantDir, reason: messageOf(err) }), where, {
      cause: err,
    });
  }
}

async function anyChanges(store: StagingStore, req: ExportRequest, previous: ExportRow, job: TenantJob): Promise<boolean> {
  for (const source of req.sources) {
    const window = { pipeline: req.pipeline, source, afterSeq: previous.seqs[source] ?? 0, upToSeq: job.highWater[source]! };
    if (await store.hasChanges(job.tenant, window)) return true;
  }
  return false;
}

function splitSpecs(group: ExportGroup): Manifest['splits'] {
  const split = group.formats.filter((f) => f.split);
  if (split.length === 0) return undefined;
  return Object.fromEntries(split.map((f) => [f.format, { shares: Object.fromEntries(f.split!.shares), by: f.split!.by }]));
}

/** Records a format could not hold are quarantined with the reason, so `sluice quarantine` shows them. */
async function quarantineRejected(store: StagingStore, req: ExportRequest, source: string, files: readonly ExportedFile[]): Promise<void> {
  const rows = files.flatMap((f) =>
    (f.rejected ?? []).map((r) => {
      const step = `export:${f.format}`;
      const detail = { failures: [{ rule: step, reason: r.reason }], step, provenance: [{ step, version: req.runId, at: new Date().toISOString() }] };
      return { key: r.key, seq: r.seq, status: 'quarantined' as const, refined: null, detail: JSON.stringify(detail), version: req.refine?.version ?? null };
    }),
  );
  if (rows.length > 0) await store.saveRefined(req.pipeline, source, rows, { bump: false });
}

/** One format's files for one source: one file, or one per split, each named and compressed as configured. */
async function writeFormat(entry: ExportFormat, dir: string, source: string, fields: Field[], inferSchema: boolean, input: ExportInput): Promise<ExportedFile[]> {
  const target = (split?: string): ExportTarget => ({
    dir,
    source,
    split,
    fields,
    inferSchema,
    open: (ext) => OutputFile.in(dir, `${source}${split ? `.${split}` : ''}.${ext}`, entry.compress),
  });
  if (!entry.split) return entry.exporter.write(target(), input);
  const files: ExportedFile[] = [];
  for (const [split] of entry.split.shares) {
    const spec = entry.split;
    const records = () => onlySplit(input.records(), spec, split);
    const written = await entry.exporter.write(target(split), { records, jsonLines: (o = {}) => jsonLinesOf(records(), o.lineage) });
    files.push(...written.map((f) => ({ ...f, split })));
  }
  return files;
}

async function* onlySplit(pages: AsyncIterable<StagedRecord[]>, spec: SplitSpec, split: string): AsyncGenerator<StagedRecord[]> {
  for await (const page of pages) {
    const mine = page.filter((r) => splitOf(spec, splitValue(spec, r)) === split);
    if (mine.length > 0) yield mine;
  }
}

async function* jsonLinesOf(pages: AsyncIterable<StagedRecord[]>, lineage = false): AsyncGenerator<Buffer> {
  for await (const page of pages) {
    yield Buffer.from(page.map((r) => `${lineage ? withLineage(r.json!, { ...r, refinedBy: r.refinedBy ?? null }) : r.json}\n`).join(''), 'utf8');
  }
}

/** Keys of records deleted (or moved to another tenant) since the previous export, as `{"key": ...}` lines. */
async function writeDeletes(dir: string, source: string, pages: AsyncIterable<StagedRecord[]>): Promise<ExportedFile | undefined> {
  let out: OutputFile | undefined;
  let rows = 0;
  const name = `${source}.deleted.jsonl`;
  for await (const page of pages) {
    out ??= OutputFile.in(dir, name);
    for (const r of page) await out.write(`${JSON.stringify({ key: r.key })}\n`);
    rows += page.length;
  }
  if (!out) return undefined;
  const { bytes, sha256 } = await out.close();
  return { path: name, format: 'jsonl', source, role: 'deleted', rows, bytes, sha256 };
}

/** A crash mid-export leaves a `.tmp-*` folder behind; the next export of the tenant removes it. */
async function removeStaleTemporaries(tenantDir: string): Promise<void> {
  for (const entry of await readdir(tenantDir)) {
    if (entry.startsWith('.tmp-') || entry.startsWith('.latest-')) await rm(join(tenantDir, entry), { recursive: true, force: true });
  }
}

/** `latest` → the newest export, replaced atomically (a new link renamed over the old one). */
async function pointLatest(tenantDir: string, id: string): Promise<void> {
  const link = join(tenantDir, `.latest-${id}`);
  await symlink(id, link, 'junction');
  await rename(link, join(tenantDir, 'latest'));
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
