/**
 * `sluice run --dry-run`: read every source from its checkpoint and compare with what is staged, then
 * report what a run would stage and export, per source and per tenant. It writes nothing: no run
 * record, no checkpoint, no lock, and it does not even create an SQLite store that does not exist yet.
 */
import { decodeCopyLines } from '../core/copy-text';
import type { BatchRows, SourceRecord } from '../core/record';
import { openExistingStore } from '../stage/open';
import type { StagingStore } from '../stage/store';
import type { Pipeline } from './pipeline';
import { createExtractor, type RunOptions } from './run';
import { stagingUrl } from './staging';

export interface DryRunSummary {
  pipeline: string;
  dryRun: true;
  staging: string;
  sources: { name: string; read: number; new: number; changed: number; unchanged: number; movedTenant: number }[];
  /** per tenant: records that would be staged by this run (new or changed) */
  tenants: { tenant: string; wouldStage: number }[];
}

export async function dryRun(pipeline: Pipeline, opts: RunOptions = {}): Promise<DryRunSummary> {
  const url = stagingUrl(pipeline, opts);
  const signal = opts.signal ?? new AbortController().signal;
  const store = openExistingStore(url);
  try {
    const staged = store && (await store.isMigrated()) ? store : undefined;
    const tenants = new Map<string, number>();
    const sources: DryRunSummary['sources'] = [];
    for (const source of pipeline.sources) {
      if (source.push) continue; // deliveries are not read: they arrive
      opts.onProgress?.({ type: 'source', source: source.name });
      const counts = { name: source.name, read: 0, new: 0, changed: 0, unchanged: 0, movedTenant: 0 };
      const extractor = createExtractor(pipeline, source, ['records'], signal);
      try {
        await extractor.open();
        const from = await staged?.checkpoint(pipeline.name, source.name);
        for await (const batch of extractor.extract(from)) {
          const records = recordsOf(batch.rows);
          const known = await lookup(staged, pipeline.name, source.name, records);
          // only records already staged need their hash, to tell changed from unchanged
          const seen = records.filter((r) => known.has(r.key));
          const hashes = new Map<string, string>();
          if (staged && seen.length > 0) (await staged.contentHashes(seen.map((r) => r.json))).forEach((h, i) => hashes.set(seen[i]!.key, h));
          for (const r of records) {
            counts.read++;
            const before = known.get(r.key);
            const hash = hashes.get(r.key);
            if (!before) counts.new++;
            else if (before.hash === hash && before.tenant === r.tenant) {
              counts.unchanged++;
              continue;
            } else if (before.tenant !== r.tenant) counts.movedTenant++;
            else counts.changed++;
            tenants.set(r.tenant, (tenants.get(r.tenant) ?? 0) + 1);
          }
          opts.onProgress?.({ type: 'batch', source: source.name, read: records.length, staged: 0, unchanged: 0 });
        }
      } finally {
        await extractor.close();
      }
      sources.push(counts);
    }
    return {
      pipeline: pipeline.name,
      dryRun: true,
      staging: store ? `${store.kind} ${store.location}` : `${url} (does not exist yet)`,
      sources,
      tenants: [...tenants.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([tenant, wouldStage]) => ({ tenant, wouldStage })),
    };
  } finally {
    await store?.close();
  }
}

function recordsOf(rows: BatchRows): SourceRecord[] {
  return rows.kind === 'records' ? rows.records : decodeCopyLines(rows.data);
}

async function lookup(store: StagingStore | undefined, pipeline: string, source: string, records: SourceRecord[]) {
  if (!store || records.length === 0) return new Map<string, { tenant: string; hash: string }>();
  return store.stagedHashes(pipeline, source, records.map((r) => r.key));
}
