/**
 * `manifest.json`: what an export holds and where it came from, so a consumer can check it (rows,
 * bytes and sha256 per file) and trace it (run, checkpoints, change sequences) without asking Sluice.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, Field } from '../core/record';
import { VERSION } from '../core/version';
import type { ExportedFile } from './exporter';

export interface SourceSummary {
  rows: number;
  deleted: number;
  /** the store's change sequence range this export covers: `after` < seq ≤ `upTo` */
  seq: { after: number; upTo: number };
  /** the source's checkpoint when the export was written */
  checkpoint: Checkpoint | null;
  /** the source's fields as its extractor described them (the exported records' own: each file's `schema`) */
  fields: Field[];
  /** refined exports: records of this window left out, by why (`quarantined`, `filtered`, `pending`) */
  leftOut?: Record<string, number>;
}

export interface Manifest {
  pipeline: string;
  tenant: string;
  export: string;
  /** `snapshot`: every current record; `changes`: records changed since `previous`, deletes listed apart */
  kind: 'snapshot' | 'changes' | 'replay';
  previous: string | null;
  run: string;
  createdAt: string;
  sources: Record<string, SourceSummary>;
  /** refined exports: the chain whose version `_sluice.refinedBy` names, and its steps */
  refine?: { version: string; steps: { name: string; version: string }[] };
  /** export entries that were split: format → the shares and what the split is by */
  splits?: Record<string, { shares: Record<string, number>; by: string }>;
  files: ExportedFile[];
}

export const MANIFEST_FILE = 'manifest.json';

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const body = { sluice: VERSION, manifestVersion: 1, ...m };
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(body, null, 2)}\n`, { flag: 'wx', flush: true });
}
