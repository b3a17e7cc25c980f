/**
 * A run's refine pass: after a source is staged, every record changed since the last pass (or every
 * record, when the chain changed) goes through the pipeline's refine chain, and the outcomes are kept
 * beside the staged records. The pass is idempotent: a run that dies in it does it again next time.
 */
import type { LlmUsageRow, StagingStore } from '../stage/store';
import type { TaskStore } from '../refine/label-studio/step';
import { llmStep, UsageMeter } from '../refine/llm/llm';
import { RefineChain, type ChainOutput } from '../refine/chain';
import type { RefineStep } from '../refine/step';
import type { Pipeline } from './pipeline';

export interface RefineCounts {
  refined: number;
  filtered: number;
  quarantined: number;
  failed: number;
  /** Left for the next run (an LLM budget ran out). */
  pending: number;
}

/** The rows a pass keeps: a pending outcome has no version, so the next pass takes it again. */
export const rowsOf = (out: readonly ChainOutput[], version: string) => out.map((o) => ({ ...o, version: o.status === 'pending' ? null : version }));

/** The pipeline's chain for one run: LLM steps share the store's answer cache and the run's usage meter. */
export function refineChain(pipeline: Pipeline, store: StagingStore, usage = new UsageMeter()): RefineChain {
  const cache = { get: (key: string) => store.llmAnswer(key), put: (key: string, answer: string) => store.saveLlmAnswer(key, answer) };
  const tasks: TaskStore = {
    find: (source, versions) => store.labelStudioTasks(pipeline.name, source, versions),
    save: (source, rows) => store.saveLabelStudioTasks(pipeline.name, source, rows),
    start: (source, rows) => store.startLabelStudioImports(pipeline.name, source, rows),
    unfinished: (source) => store.unfinishedLabelStudioImports(pipeline.name, source),
    forget: (source, projectId) => store.forgetLabelStudioImports(pipeline.name, source, projectId),
  };
  const steps: RefineStep[] = [];
  // each kind of step is loaded when a pipeline has one: a run without rules or Label Studio never loads
  // the JSONata engine, the Label Studio client or its export readers
  for (const s of pipeline.refine) {
    if ('rules' in s) steps.push((require('../refine/rules/rules') as typeof import('../refine/rules/rules')).rulesStep(s.rules));
    else if ('labelStudio' in s) {
      const { labelStudioStep } = require('../refine/label-studio/step') as typeof import('../refine/label-studio/step');
      steps.push(labelStudioStep(s.labelStudio, tasks, [...steps]));
    } else steps.push(llmStep(s.llm, { cache, usage }));
  }
  return new RefineChain(
    steps,
    { holdFailures: pipeline.onRefineFailure === 'quarantine' },
  );
}

/** What the run's LLM calls used, per tenant and model, priced where the file gives a price. */
export async function recordUsage(store: StagingStore, pipeline: Pipeline, run: string, usage: UsageMeter): Promise<LlmUsageRow[]> {
  const prices = new Map(pipeline.refine.flatMap((s) => ('llm' in s && s.llm.price ? [[s.llm.model, s.llm.price] as const] : [])));
  const rows = usage.rows().map((u) => {
    const price = prices.get(u.model);
    const cost = price ? (u.promptTokens * price.inputPer1M + u.completionTokens * price.outputPer1M) / 1e6 : null;
    return { ...u, cost };
  });
  await store.recordLlmUsage(run, pipeline.name, rows);
  return rows;
}

/** `stagedAfter`: the source's high water before this run staged anything. */
export async function refineSource(
  store: StagingStore,
  pipeline: Pipeline,
  source: string,
  chain: RefineChain,
  stagedAfter: number,
  signal: AbortSignal,
): Promise<RefineCounts> {
  const counts: RefineCounts = { refined: 0, filtered: 0, quarantined: 0, failed: 0, pending: 0 };
  const state = await store.refineState(pipeline.name, source);
  const changedChain = state.version !== chain.version;
  // A new chain (or the first) re-refines everything, and gives each record a new change sequence so
  // the next export carries what it became; otherwise only what was staged since the last pass.
  const afterSeq = changedChain ? 0 : state.through;
  const upToSeq = await store.highWater(pipeline.name, source);
  let through = upToSeq; // records given a new sequence here are refined already
  let firstPending = Number.POSITIVE_INFINITY; // the next pass starts before it
  for (const tenant of await store.tenants(pipeline.name)) {
    const query = { pipeline: pipeline.name, source, afterSeq, upToSeq, op: 'upsert' as const, notRefinedBy: chain.version };
    for await (const page of store.read(tenant, query)) {
      signal.throwIfAborted();
      const out = await chain.refine(page);
      for (const o of out) counts[o.status]++;
      // A record staged before this run (left pending, or refined by an older chain) may lie inside a
      // window already exported: it gets a new change sequence so the next export carries it.
      const fresh = out.filter((o) => o.seq > stagedAfter);
      const again = out.filter((o) => o.seq <= stagedAfter);
      await store.saveRefined(pipeline.name, source, rowsOf(fresh, chain.version), { bump: false });
      const last = await store.saveRefined(pipeline.name, source, rowsOf(again, chain.version), { bump: true });
      through = Math.max(through, last);
      for (const o of out) if (o.status === 'pending') firstPending = Math.min(firstPending, o.seq);
    }
  }
  await store.saveRefined(pipeline.name, source, [], { bump: false, progress: { through: Math.min(through, firstPending - 1), version: chain.version } });
  return counts;
}
