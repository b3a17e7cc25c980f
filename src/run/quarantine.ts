/**
 * Records a refine step held back (quarantined) or failed on: list them with why, run the chain on them
 * again (after a fix, or when a service is back), or release them to be exported as they were staged.
 */
import { SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import type { ChainOutput } from '../refine/chain';
import type { HeldRecord } from '../stage/store';
import { withExistingStore as withStore, type Where } from './existing-store';
import type { Pipeline } from './pipeline';
import { refineChain, rowsOf } from './refine';

export interface HeldQuery {
  source?: string;
  tenant?: string;
  key?: string;
  limit: number;
}

export async function listHeld(pipeline: Pipeline, q: HeldQuery, opts: Where = {}): Promise<HeldRecord[]> {
  return withStore(pipeline, opts, false, (store) => store.held(pipeline.name, q));
}

/** Runs the pipeline's chain on held records again; what passes now is exported by the next run. */
export async function retryHeld(pipeline: Pipeline, q: HeldQuery, opts: Where = {}): Promise<ChainOutput[]> {
  if (pipeline.refine.length === 0) throw new SluiceError('SLUICE_USAGE', msg('err.run.quarantine.1', { name: pipeline.name }), { pipeline: pipeline.name });
  return withStore(pipeline, opts, true, async (store) => {
    const chain = refineChain(pipeline, store);
    const held = await store.held(pipeline.name, q);
    const out: ChainOutput[] = [];
    for (const source of new Set(held.map((h) => h.source))) {
      const mine = held.filter((h) => h.source === source);
      const results = await chain.refine(mine.map((h) => ({ source, tenant: h.tenant, key: h.key, seq: h.seq, json: h.data })));
      await store.saveRefined(pipeline.name, source, rowsOf(results, chain.version), { bump: true });
      out.push(...results);
    }
    return out;
  });
}

export async function releaseHeld(pipeline: Pipeline, source: string, keys: readonly string[], opts: Where = {}): Promise<number> {
  if (!pipeline.sources.some((s) => s.name === source)) {
    throw new SluiceError('SLUICE_USAGE', msg('err.run.quarantine.2', { name: pipeline.name, source }), { pipeline: pipeline.name });
  }
  return withStore(pipeline, opts, true, async (store) => {
    const n = await store.release(pipeline.name, source, keys);
    await store.appendAudit({ actor: opts.actor ?? 'cli', action: 'quarantine.released', pipeline: pipeline.name, detail: { source, keys, released: n } });
    return n;
  });
}
