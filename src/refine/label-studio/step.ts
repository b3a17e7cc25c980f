/**
 * The Label Studio step: records that need people are imported as tasks (one per record version, never
 * twice: the task id is kept in the store) and wait, `pending`, until someone annotates them; a later run
 * finds the annotation and merges it into the record with its provenance (annotator, task and annotation
 * ids, lead time). A skipped task quarantines the record with that reason. When Label Studio cannot be
 * reached the records stay pending, with the reason, and are asked about again next run.
 *
 * An import is noted in the store before it is sent and ended when the task ids are kept; a run that
 * finds one unended (the last one died in between) looks its tasks up by their meta instead of
 * importing them again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import jsonata from 'jsonata';
import { parseLabelConfig } from '../../core/label-config';
import type { RefineOutcome, RefineRecord, RefineStep } from '../step';
import type { LabelStudioConfig } from './config';
import { stringifyLossless } from '../../core/json-text';
import { LabelStudioClient, type LsAnnotation, type LsTask, type NewTask } from './client';
import { snapshotTasks } from './export';
import { predictionFor, type PredictionOptions } from './predictions';

interface TaskRow {
  key: string;
  version: string;
  projectId: number;
  taskId: number;
}

/** The store's Label Studio bookkeeping for one pipeline. */
export interface TaskStore {
  find(source: string, versions: { key: string; version: string }[]): Promise<Map<string, { projectId: number; taskId: number }>>;
  /** Keeps task ids and ends the imports they came from. */
  save(source: string, rows: TaskRow[]): Promise<void>;
  start(source: string, rows: Omit<TaskRow, 'taskId'>[]): Promise<void>;
  unfinished(source: string): Promise<Omit<TaskRow, 'taskId'>[]>;
  forget(source: string, projectId: number): Promise<void>;
}

/** Above this many waiting tasks in a project, one walk of its task list beats a request per task. */
const WALK_FROM = 20;

/** `before`: the steps ahead of this one in the chain, whose output `predictions:` sends. */
export function labelStudioStep(config: LabelStudioConfig, tasks: TaskStore, before: readonly Pick<RefineStep, 'name' | 'version'>[] = []): RefineStep {
  const labelConfig = existsSync(config.project.labelConfig) ? readFileSync(config.project.labelConfig, 'utf8') : config.project.labelConfig;
  const predictions = predictionOptions(config, before);
  const controls = predictions ? parseLabelConfig(labelConfig) : undefined;
  const when = config.when ? jsonata(config.when) : undefined;
  const client = new LabelStudioClient({ url: config.url, token: config.token, timeoutMs: config.timeout * 1000, retries: config.retries });
  const projects = new Map<string, Promise<number>>();
  const projectFor = (tenant: string) => {
    const title = config.project.title.replace(/\{\{\s*tenant\s*\}\}/g, tenant);
    if (!projects.has(title)) projects.set(title, client.ensureProject(title, labelConfig).then((p) => p.id));
    return projects.get(title)!;
  };
  const version = createHash('sha256')
    .update(JSON.stringify([config.project, labelConfig, config.data, config.when ?? null, config.into, predictions ?? null]))
    .digest('hex')
    .slice(0, 12);
  const newTask = (source: string, r: RefineRecord, data: Record<string, unknown>, version: string): NewTask => {
    const prediction = predictions && predictionFor(controls!, r.data, predictions);
    return { data, meta: { sluice: { source, key: r.key, version } }, ...(prediction ? { predictions: [prediction] } : {}) };
  };
  // per run (a step lives for one run): imports recovered once per source, one snapshot per project
  const recovered = new Map<string, Promise<void>>();
  const snapshots = new Map<number, Promise<Map<number, LsTask>>>();

  return {
    name: 'labelStudio',
    version,
    async refine(records: readonly RefineRecord[]): Promise<RefineOutcome[]> {
      const out: RefineOutcome[] = new Array(records.length);
      const asked: { i: number; r: RefineRecord; data: Record<string, unknown>; version: string }[] = [];
      for (const [i, r] of records.entries()) {
        if (when && (await when.evaluate(r.data)) !== true) {
          out[i] = { status: 'refined', data: r.data };
          continue;
        }
        const data = Object.fromEntries(Object.entries(config.data).map(([field, from]) => [field, r.data[from] ?? null]));
        asked.push({ i, r, data, version: createHash('sha256').update(stringifyLossless(data)).digest('hex') });
      }
      try {
        for (const source of new Set(asked.map((a) => a.r.source))) {
          if (!recovered.has(source)) recovered.set(source, recover(source));
          await recovered.get(source);
          const mine = asked.filter((a) => a.r.source === source);
          const known = await tasks.find(source, mine.map((a) => ({ key: a.r.key, version: a.version })));
          await importMissing(mine.filter((a) => !known.has(a.r.key)), source);
          const waiting = mine.filter((a) => known.has(a.r.key)).map((a) => ({ ...a, ...known.get(a.r.key)! }));
          const found = await waitingTasks(waiting);
          for (const a of waiting) out[a.i] = outcomeOf(a.r, found.get(a.taskId) ?? { id: a.taskId, data: {} });
        }
      } catch (err) {
        const reason = `Label Studio: ${err instanceof Error ? err.message : String(err)}; asked again next run`;
        for (const a of asked) out[a.i] ??= { status: 'pending', reason };
      }
      return out;

      async function importMissing(missing: typeof asked, source: string): Promise<void> {
        for (const tenant of new Set(missing.map((m) => m.r.tenant))) {
          const group = missing.filter((m) => m.r.tenant === tenant);
          const project = await projectFor(tenant);
          await tasks.start(source, group.map((m) => ({ key: m.r.key, version: m.version, projectId: project })));
          const ids = await client.importTasks(project, group.map((m) => newTask(source, m.r, m.data, m.version)));
          await tasks.save(source, group.map((m, j) => ({ key: m.r.key, version: m.version, projectId: project, taskId: ids[j]! })));
          group.forEach((m, j) => (out[m.i] = { status: 'pending', reason: `awaiting annotation (Label Studio task ${ids[j]})` }));
        }
      }
    },
  };

  /** Imports a dead run started: the tasks Label Studio made for them are adopted; the rest are imported anew. */
  async function recover(source: string): Promise<void> {
    const unfinished = await tasks.unfinished(source);
    for (const project of new Set(unfinished.map((u) => u.projectId))) {
      const wanted = new Map(unfinished.filter((u) => u.projectId === project).map((u) => [`${u.key}\u0000${u.version}`, u]));
      const adopted: TaskRow[] = [];
      for await (const page of client.tasks(project)) {
        for (const t of page) {
          const m = sluiceMeta(t);
          const u = m && m.source === source ? wanted.get(`${m.key}\u0000${m.version}`) : undefined;
          if (u) adopted.push({ ...u, taskId: t.id });
        }
      }
      await tasks.save(source, adopted);
      await tasks.forget(source, project);
    }
  }

  /** The waiting tasks as Label Studio has them now (with annotations), by task id. */
  async function waitingTasks(waiting: readonly { projectId: number; taskId: number }[]): Promise<Map<number, LsTask>> {
    const found = new Map<number, LsTask>();
    for (const project of new Set(waiting.map((w) => w.projectId))) {
      const ids = new Set(waiting.filter((w) => w.projectId === project).map((w) => w.taskId));
      if (config.annotations === 'snapshot') {
        if (!snapshots.has(project)) snapshots.set(project, annotatedInSnapshot(project));
        for (const [id, task] of await snapshots.get(project)!) if (ids.has(id)) found.set(id, task);
      } else if (ids.size <= WALK_FROM) {
        for (const id of ids) found.set(id, await client.task(id));
      } else {
        for await (const page of client.tasks(project)) {
          for (const t of page) if (ids.has(t.id)) found.set(t.id, t);
          if (found.size >= ids.size) break;
        }
      }
    }
    return found;
  }

  /** The annotated tasks of a project's export snapshot, keeping only what outcomes need. */
  async function annotatedInSnapshot(project: number): Promise<Map<number, LsTask>> {
    const out = new Map<number, LsTask>();
    for await (const t of snapshotTasks(client, project, { timeoutMs: config.snapshotTimeout * 1000, taskFilter: { only_with_annotations: true } })) {
      const annotations = annotationsOf(t);
      if (annotations.length > 0) out.set(t.id, { id: t.id, data: {}, annotations });
    }
    return out;
  }

  function outcomeOf(r: RefineRecord, task: LsTask): RefineOutcome {
    const annotations = annotationsOf(task);
    const latest = (list: LsAnnotation[]) => [...list].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))[0];
    const done = latest(annotations.filter((a) => !a.was_cancelled));
    if (done) {
      const annotator = typeof done.completed_by === 'object' && done.completed_by !== null ? done.completed_by.id : (done.completed_by ?? null);
      const annotation = { result: done.result, annotator, taskId: task.id, annotationId: done.id, leadTime: done.lead_time ?? null, annotatedAt: done.updated_at };
      return { status: 'refined', data: { ...r.data, [config.into]: annotation } };
    }
    const skipped = latest(annotations.filter((a) => a.was_cancelled));
    if (skipped) return { status: 'quarantined', failures: [{ rule: 'labelStudio', reason: `the annotator skipped Label Studio task ${task.id} (annotation ${skipped.id})` }] };
    return { status: 'pending', reason: `awaiting annotation (Label Studio task ${task.id})` };
  }
}

/** Annotations under either key: `annotations`, or the legacy `completions`. */
function annotationsOf(task: LsTask): LsAnnotation[] {
  return task.annotations ?? (task as { completions?: LsAnnotation[] }).completions ?? [];
}

function sluiceMeta(task: LsTask): { source: string; key: string; version: string } | undefined {
  const m = (task.meta as { sluice?: { source?: unknown; key?: unknown; version?: unknown } } | undefined)?.sluice;
  return m && typeof m.source === 'string' && typeof m.key === 'string' && typeof m.version === 'string' ? (m as { source: string; key: string; version: string }) : undefined;
}

function predictionOptions(config: LabelStudioConfig, before: readonly Pick<RefineStep, 'name' | 'version'>[]): PredictionOptions | undefined {
  const p = config.predictions;
  if (!p) return undefined;
  const modelVersion = before.map((s) => `${s.name}@${s.version}`).join('+') || 'sluice';
  return typeof p === 'string' ? { modelVersion } : { modelVersion, fields: p.fields, score: p.score };
}
