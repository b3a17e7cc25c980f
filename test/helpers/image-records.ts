// Image records with Label Studio regions, as the detection exporters' tests (COCO, YOLO, VOC) stage
// them: a SQLite `shots` source for whole runs, the real Label Studio export in fixtures/, and staging
// records straight into a store for the round-trip properties.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { SourceRecord } from '../../src/core/record';
import type { ExportInput } from '../../src/export/exporter';
import type { StagingStore } from '../../src/stage/store';

export const LABEL_STUDIO_FIXTURES = join(__dirname, '../../fixtures/label-studio');

/** The first task of the real Label Studio export. */
export const realTask = () =>
  (JSON.parse(readFileSync(join(LABEL_STUDIO_FIXTURES, 'ls_export_tasks.json'), 'utf8')) as { data: { image: string }; annotations: { result: unknown[]; updated_at: string }[] }[])[0]!;

/** A Label Studio rectangle result: percent of a W × H image. */
export const box = (id: string, label: string, x: number, y: number, w: number, h: number, W = 1000, H = 500) => ({
  id,
  type: 'rectanglelabels',
  from_name: 'label',
  to_name: 'image',
  original_width: W,
  original_height: H,
  value: { x, y, width: w, height: h, rotation: 0, rectanglelabels: [label] },
});

/** A SQLite source `shots (id, image, annotation)` in `dir/src.db`; returns what inserts (or replaces) its rows. */
export function shotsSource(dir: string): (rows: [number, string, unknown][]) => void {
  const db = new Database(join(dir, 'src.db'));
  db.exec(`CREATE TABLE shots (id INTEGER PRIMARY KEY, image TEXT, annotation TEXT)`);
  db.close();
  return (rows) => {
    const conn = new Database(join(dir, 'src.db'));
    const stmt = conn.prepare(`INSERT OR REPLACE INTO shots VALUES (?, ?, ?)`);
    for (const [id, image, annotation] of rows) stmt.run(id, image, annotation === null ? null : JSON.stringify(annotation));
    conn.close();
  };
}

/**
 * Writes `dir/p.yaml`: pipeline `vision` reading the `shots` source (tenant acme, `annotation` coerced to
 * an object) and exporting it as `format` to `dir/out`, with the given option lines; returns its path.
 */
export function visionPipeline(dir: string, format: string, options: string): string {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `name: vision
sources:
  - name: shots
    read: { driver: sqlite, url: ${join(dir, 'src.db')}, table: shots, key: id }
tenant: { value: acme }
refine:
  - rules:
      - coerce: { annotation: object }
export:
  - format: ${format}
    path: ${join(dir, 'out')}
${options}
staging: sqlite:${join(dir, 'staging.db')}
`,
  );
  return file;
}

/** What the detection round trips draw from: categories, percent positions and extents, images of any size. */
export const LABELS = ['car', 'person', 'bike'];
export const percentAt = fc.double({ min: 0, max: 90, noNaN: true });
export const percentSize = fc.double({ min: 0.5, max: 10, noNaN: true });
export const anyImage = fc.record({ name: fc.constantFrom('a.jpg', 'b.png', 'dir/c.jpg', 'https://x.test/d.jpg'), W: fc.integer({ min: 10, max: 5000 }), H: fc.integer({ min: 10, max: 5000 }) });

interface ImageRecord {
  image: { name: string; W: number; H: number };
}

/** The same size for every record of one image name, as real images have: the first record's. */
export function sizeByName(recs: readonly ImageRecord[]): Map<string, { W: number; H: number }> {
  const sizes = new Map<string, { W: number; H: number }>();
  for (const r of recs) if (!sizes.has(r.image.name)) sizes.set(r.image.name, r.image);
  return sizes;
}

/**
 * Stages `{ image, annotation: { result } }` records (keys "0", "1", ... in order) as source `shots` of
 * tenant `t` in a pipeline of their own, and returns them as an exporter's input. Each record's regions
 * come from `result`, given the size of its image (`sizeByName`).
 */
export async function stageImages<R extends ImageRecord>(
  store: StagingStore,
  pipeline: string,
  records: readonly R[],
  result: (r: R, W: number, H: number) => unknown[],
): Promise<ExportInput> {
  const sizeOf = sizeByName(records);
  const staged: SourceRecord[] = records.map((r, i) => {
    const { W, H } = sizeOf.get(r.image.name)!;
    return { tenant: 't', key: String(i), op: 'upsert', cursor: null, json: JSON.stringify({ image: r.image.name, annotation: { result: result(r, W, H) } }) };
  });
  await store.startRun(pipeline, `run-${pipeline}`);
  await store.commit({ id: `run-${pipeline}`, pipeline, source: 'shots' }, { rows: { kind: 'records', records: staged }, checkpoint: {} });
  const range = { pipeline, source: 'shots', afterSeq: 0, upToSeq: Number.MAX_SAFE_INTEGER };
  return { records: () => store.read('t', { ...range, op: 'upsert' }), jsonLines: () => store.readJsonLines('t', range) };
}
