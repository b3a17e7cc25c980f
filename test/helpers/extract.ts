/** Drives an extractor through its interface, as a run does, and collects what it yields. */
import { decodeCopyLines } from '../../src/core/copy-text';
import type { Batch, Checkpoint, Field, SourceRecord } from '../../src/core/record';
import type { TenantRule } from '../../src/config/parts';
import { readerFor } from '../../src/extract/registry';

export interface Collected {
  fields: Field[];
  batches: { records: SourceRecord[]; checkpoint: Checkpoint }[];
  records: SourceRecord[];
}

export function recordsOf(batch: Batch): SourceRecord[] {
  return batch.rows.kind === 'records' ? batch.rows.records : decodeCopyLines(batch.rows.data);
}

export async function extractAll(
  config: Record<string, unknown>,
  opts: { from?: Checkpoint; tenant?: TenantRule; source?: string } = {},
): Promise<Collected> {
  const def = readerFor(String(config.driver));
  const parsed = def.config.parse(config);
  const extractor = def.create(parsed, {
    pipeline: 'test',
    source: opts.source ?? 'src',
    tenant: opts.tenant ?? { value: 't' },
    accepts: ['copy', 'records'],
    signal: new AbortController().signal,
  });
  try {
    const fields = await extractor.open();
    const batches: Collected['batches'] = [];
    for await (const b of extractor.extract(opts.from)) batches.push({ records: recordsOf(b), checkpoint: b.checkpoint });
    return { fields, batches, records: batches.flatMap((b) => b.records) };
  } finally {
    await extractor.close();
  }
}

/** The error an extraction throws (open or read), or a failure if it succeeds. */
export async function extractError(config: Record<string, unknown>, opts: Parameters<typeof extractAll>[1] = {}): Promise<Error & { code?: string }> {
  try {
    await extractAll(config, opts);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the extraction to fail');
}
