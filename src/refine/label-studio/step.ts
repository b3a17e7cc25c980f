/**
 * The Label Studio step: records that need people are imported as tasks (one per record version, never
 * twice: the task id is kept in the store) and wait, `pending`, until someone annotates them; a later run
 * finds the annotation and merges it into the record with its provenance (annotator, task and annotation
 * ids, lead time). A skipped task quarantines the record with that reason. When Label Studio cannot be
 * reached the records stay pending, with the reason, and are asked about again next run.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import jsonata from 'jsonata';
import { parseLabelConfig } from '../../core/label-config';
import type { RefineOutcome, RefineRecord, RefineStep } from '../step';
import type { LabelStudioConfig } from './config';
import { LabelStudioClient, type LsAnnotation, type NewTask } from './client';
import { predictionFor, type PredictionOptions } from './predictions';

export interface TaskStore {
  find(source: string, versions: { key: string; version: string }[]): Promise<Map<string, { projectId: number; taskId: number }>>;
  save(source: string, rows: { key: string; version: string; projectId: number; taskId: number }[]): Promise<void>;
}

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
  const newTask = (source: string, r: RefineRecord, data: Record<string, unknown>): NewTask => {
    const prediction = predictions && predictionFor(controls!, r.data, predictions);
    return { data, meta: { sluice: { source, key: r.key } }, ...(prediction ? { predictions: [prediction] } : {}) };
  };

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
        asked.push({ i, r, data, version: createHash('sha256').update(JSON.stringify(data)).digest('hex') });
      }
      try {
        for (const source of new Set(asked.map((a) => a.r.source))) {
          const mine = asked.filter((a) => a.r.source === source);
          const known = await tasks.find(source, mine.map((a) => ({ key: a.r.key, version: a.version })));
          await importMissing(mine.filter((a) => !known.has(a.r.key)), source);
          for (const a of mine.filter((x) => known.has(x.r.key))) out[a.i] = await outcomeOf(a.r, known.get(a.r.key)!.taskId);
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
          const ids = await client.importTasks(project, group.map((m) => newTask(source, m.r, m.data)));
          await tasks.save(source, group.map((m, j) => ({ key: m.r.key, version: m.version, projectId: project, taskId: ids[j]! })));
          group.forEach((m, j) => (out[m.i] = { status: 'pending', reason: `awaiting annotation (Label Studio task ${ids[j]})` }));
        }
      }
    },
  };

  async function outcomeOf(r: RefineRecord, taskId: number): Promise<RefineOutcome> {
    const task = await client.task(taskId);
    const annotations: LsAnnotation[] = task.annotations ?? (task as { completions?: LsAnnotation[] }).completions ?? [];
    const latest = (list: LsAnnotation[]) => [...list].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))[0];
    const done = latest(annotations.filter((a) => !a.was_cancelled));
    if (done) {
      const annotator = typeof done.completed_by === 'object' && done.completed_by !== null ? done.completed_by.id : (done.completed_by ?? null);
      const annotation = { result: done.result, annotator, taskId, annotationId: done.id, leadTime: done.lead_time ?? null, annotatedAt: done.updated_at };
      return { status: 'refined', data: { ...r.data, [config.into]: annotation } };
    }
    const skipped = latest(annotations.filter((a) => a.was_cancelled));
    if (skipped) return { status: 'quarantined', failures: [{ rule: 'labelStudio', reason: `the annotator skipped Label Studio task ${taskId} (annotation ${skipped.id})` }] };
    return { status: 'pending', reason: `awaiting annotation (Label Studio task ${taskId})` };
  }
}

function predictionOptions(config: LabelStudioConfig, before: readonly Pick<RefineStep, 'name' | 'version'>[]): PredictionOptions | undefined {
  const p = config.predictions;
  if (!p) return undefined;
  const modelVersion = before.map((s) => `${s.name}@${s.version}`).join('+') || 'sluice';
  return typeof p === 'string' ? { modelVersion } : { modelVersion, fields: p.fields, score: p.score };
}
