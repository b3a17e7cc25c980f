/**
 * A run's refine pass: after a source is staged, every record changed since the last pass (or every
 * record, when the chain changed) goes through the pipeline's refine chain, and the outcomes are kept
 * beside the staged records. The pass is idempotent: a run that dies in it does it again next time.
 */
import type { StagingStore } from '../stage/store';
import { RefineChain } from '../refine/chain';
import { rulesStep } from '../refine/rules/rules';
import type { RefineStep } from '../refine/step';
import type { Pipeline } from './pipeline';

export interface RefineCounts {
  refined: number;
  filtered: number;
  quarantined: number;
  failed: number;
}

export function refineChain(pipeline: Pipeline): RefineChain {
  return new RefineChain(pipeline.refine.map((s): RefineStep => rulesStep(s.rules)));
}

export async function refineSource(store: StagingStore, pipeline: Pipeline, source: string, chain: RefineChain, signal: AbortSignal): Promise<RefineCounts> {
  const counts: RefineCounts = { refined: 0, filtered: 0, quarantined: 0, failed: 0 };
  const state = await store.refineState(pipeline.name, source);
  const changedChain = state.version !== chain.version;
  // A new chain (or the first) re-refines everything, and gives each record a new change sequence so
  // the next export carries what it became; otherwise only what was staged since the last pass.
  const afterSeq = changedChain ? 0 : state.through;
  const upToSeq = await store.highWater(pipeline.name, source);
  let through = upToSeq; // records given a new sequence here are refined already
  for (const tenant of await store.tenants(pipeline.name)) {
    const query = { pipeline: pipeline.name, source, afterSeq, upToSeq, op: 'upsert' as const, notRefinedBy: chain.version };
    for await (const page of store.read(tenant, query)) {
      signal.throwIfAborted();
      const out = await chain.refine(page);
      for (const o of out) counts[o.status]++;
      const last = await store.saveRefined(pipeline.name, source, out.map((o) => ({ ...o, version: chain.version })), { bump: changedChain });
      through = Math.max(through, last);
    }
  }
  await store.saveRefined(pipeline.name, source, [], { bump: false, progress: { through, version: chain.version } });
  return counts;
}
