import { parseLossless, stringifyLossless } from '../../core/json-text';
import type { HeldRecord } from '../../stage/store';
import { loadPipeline } from '../../run/pipeline';
import { listHeld, releaseHeld, retryHeld } from '../../run/quarantine';
import { cols, say, table } from '../format';

interface Flags {
  source?: string;
  tenant?: string;
  limit: number;
  json?: boolean;
  staging?: string;
}

const reasons = (h: HeldRecord): string => {
  const d = JSON.parse(h.detail) as { failures?: { field?: string; reason: string }[]; error?: string };
  return d.error ?? (d.failures ?? []).map((f) => (f.field ? `${f.field}: ${f.reason}` : f.reason)).join('; ');
};

/** `sluice quarantine list`: held records with every reason. */
export async function quarantineList(file: string, flags: Flags): Promise<void> {
  const held = await listHeld(loadPipeline(file), { source: flags.source, tenant: flags.tenant, limit: flags.limit }, { stagingUrl: flags.staging });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(held.map((h) => ({ ...h, data: JSON.parse(h.data), detail: JSON.parse(h.detail) })), null, 2)}\n`);
    return;
  }
  if (held.length === 0) return void process.stdout.write(`${say('cli.quarantine.empty')}\n`);
  process.stdout.write(`${table(cols('source', 'tenant', 'key', 'status', 'why'), held.map((h) => [h.source, h.tenant, h.key, h.status, reasons(h)]))}\n`);
}

/** `sluice quarantine show`: one record as staged, with its failures and provenance. */
export async function quarantineShow(file: string, key: string, flags: Flags): Promise<void> {
  const held = await listHeld(loadPipeline(file), { source: flags.source, key, limit: 10 }, { stagingUrl: flags.staging });
  const shown = held.map((h) => ({ source: h.source, tenant: h.tenant, key: h.key, status: h.status, record: parseLossless(h.data), ...JSON.parse(h.detail) }));
  process.stdout.write(`${stringifyLossless(flags.json ? shown : shown[0] ?? null, 2)}\n`);
}

/** `sluice quarantine retry`: the chain again, on what is held. */
export async function quarantineRetry(file: string, flags: Flags): Promise<void> {
  const out = await retryHeld(loadPipeline(file), { source: flags.source, tenant: flags.tenant, limit: flags.limit }, { stagingUrl: flags.staging });
  const passed = out.filter((o) => o.status === 'refined' || o.status === 'filtered').length;
  const summary = { retried: out.length, passed, stillHeld: out.length - passed };
  process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${say('cli.quarantine.retried', summary)}\n`);
}

/** `sluice quarantine release`: export these records as they were staged. */
export async function quarantineRelease(file: string, keys: string[], flags: Flags & { source: string }): Promise<void> {
  const n = await releaseHeld(loadPipeline(file), flags.source, keys, { stagingUrl: flags.staging });
  process.stdout.write(flags.json ? `${JSON.stringify({ released: n })}\n` : `${say('cli.quarantine.released', { released: n, count: keys.length })}\n`);
}
