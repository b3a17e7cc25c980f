/**
 * COCO object detection (coco.md) from records holding an image reference and Label Studio regions —
 * what the `labelStudio:` refine step merges into a record (`annotation.result`) — so that pycocotools
 * and detection trainers load it as it is:
 *
 * - one `images` entry per distinct image, however many records (tasks) annotate it: their regions are
 *   merged (`images: merge`), or the most recently annotated record wins (`images: latest`);
 * - image, annotation and category ids are positive integers, never 0; image and annotation ids are
 *   derived from the image reference and the record key and region, so they stay the same when the
 *   same data is exported again; category ids are 1..n in the order of `categories` (or of the labels
 *   in the labeling config);
 * - `bbox` is `[x, y, w, h]` in pixels from the percent values and each result's original size; `area`
 *   is the box's (a polygon's own area for polygons); `iscrowd: 0`;
 * - polygons are flat `[x1, y1, ...]` lists; a box gets its four corners as its segmentation, so
 *   `iouType='segm'` evaluation works too (Label Studio writes `[]`, which crashes it);
 * - `<Choice>` values are never categories; a region whose label is not a category, a region with no
 *   area, or an image without a known size leaves that record out, with the reason, reported in the
 *   manifest (`rejected`) and quarantined;
 * - there is always an `info` object and a `licenses` array; each annotation carries `_sluice` lineage.
 *
 * The file is written as it is read: images go straight to it, annotations to a temporary file that
 * is appended at the end, so memory holds only the set of image ids already written.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { getJsonPath, parseJsonPath } from '../src/core/json-path';
import { parseLabelConfig } from '../src/core/label-config';
import type { StagedRecord } from '../src/core/record';
import { VERSION } from '../src/core/version';
import { defineExporter, OutputFile, type ExportedFile } from '../src/export/exporter';
import { regionsOf, type Region } from '../src/export/regions';

const REGION_TYPES = new Set(['rectanglelabels', 'polygonlabels', 'labels', 'ellipselabels', 'brushlabels']);

export const cocoExporter = defineExporter({
  format: 'coco',
  description: 'COCO object detection JSON (images, annotations, categories) from image records with Label Studio regions.',
  options: z
    .strictObject({
      image: z.string().min(1).default('image').describe('The record field holding the image reference (URL or path): the `file_name`.'),
      annotations: z.string().min(1).default('annotation.result').describe('Path to the Label Studio result list in each record.'),
      width: z.string().min(1).optional().describe('A record field with the image width in pixels, for images without regions.'),
      height: z.string().min(1).optional().describe('A record field with the image height in pixels.'),
      categories: z.array(z.string().min(1)).min(1).optional().describe('The category names, in id order (ids 1..n).'),
      labelConfig: z.string().min(1).optional().describe('A labeling config (file or XML) whose region labels are the categories.'),
      images: z.enum(['merge', 'latest']).default('merge').describe('When several records annotate one image: merge their regions, or keep the latest annotation\'s.'),
      lineage: z.boolean().default(true).describe('Add `_sluice: { source, key, run, refinedBy }` to each annotation.'),
    })
    .refine((o) => (o.categories === undefined) !== (o.labelConfig === undefined), 'give the categories: `categories: [...]` or `labelConfig:`'),
  create: (options) => {
    const categories = options.categories ?? categoriesFromConfig(options.labelConfig!);
    const categoryId = new Map(categories.map((name, i) => [name, i + 1]));
    const imagePath = parseJsonPath(options.image);
    const resultPath = parseJsonPath(options.annotations);
    // the Label Studio step keeps `annotatedAt` beside `result`: what `images: latest` compares
    const atPath = parseJsonPath(options.annotations.replace(/\.result$/, '.annotatedAt'));
    return {
      async write(target, input) {
        const readImage = (r: StagedRecord) => {
          const data = JSON.parse(r.json!) as Record<string, unknown>;
          const ref = getJsonPath(data, imagePath);
          const results = getJsonPath(data, resultPath);
          const annotatedAt = getJsonPath(data, atPath);
          return { data, ref: typeof ref === 'string' && ref !== '' ? ref : undefined, results: Array.isArray(results) ? results : [], at: String(annotatedAt ?? '') };
        };
        // `latest`: a first pass finds, per image, the record whose annotation is newest
        const winner = new Map<string, { key: string; at: string }>();
        if (options.images === 'latest') {
          for await (const page of input.records()) {
            for (const r of page) {
              const { ref, at } = readImage(r);
              const w = ref === undefined ? undefined : winner.get(ref);
              if (ref !== undefined && (!w || at > w.at)) winner.set(ref, { key: r.key, at });
            }
          }
        }
        const out = target.open('coco.json');
        const annotationsFile = join(target.dir, `.${out.name}.annotations`);
        const annotations = new OutputFile(annotationsFile);
        const imageIds = new Set<number>();
        const annotationIds = new Set<number>();
        const rejected: { key: string; seq: number; reason: string }[] = [];
        let images = 0;
        let count = 0;
        let skipped = 0;
        try {
          const info = { year: new Date().getUTCFullYear(), version: VERSION, description: `${target.source}${target.split ? ` (${target.split})` : ''}`, contributor: 'Sluice', url: '', date_created: new Date().toISOString() };
          await out.write(`{"info":${JSON.stringify(info)},"licenses":[],"images":[`);
          for await (const page of input.records()) {
            for (const r of page) {
              const { data, ref, results } = readImage(r);
              if (ref === undefined) {
                rejected.push({ key: r.key, seq: r.seq, reason: `no image reference at ${options.image}` });
                continue;
              }
              if (options.images === 'latest' && winner.get(ref)?.key !== r.key) continue;
              const found = regionsOf(results);
              skipped += found.skipped;
              const width = found.width ?? numberAt(data, options.width);
              const height = found.height ?? numberAt(data, options.height);
              if (!(width && height && width > 0 && height > 0)) {
                rejected.push({ key: r.key, seq: r.seq, reason: `the size of image ${ref} is not known (no region with original_width/height${options.width ? `, no ${options.width}/${options.height}` : ''})` });
                continue;
              }
              const flat = found.regions.find((g) => !(g.bbox[2] > 0 && g.bbox[3] > 0 && g.area > 0));
              if (flat) {
                rejected.push({ key: r.key, seq: r.seq, reason: `region ${flat.id} has no area (bbox ${JSON.stringify(flat.bbox)})` });
                continue;
              }
              const unknown = found.regions.find((g) => !categoryId.has(g.label));
              if (unknown) {
                rejected.push({ key: r.key, seq: r.seq, reason: `label ${JSON.stringify(unknown.label)} is not one of the categories` });
                continue;
              }
              const imageId = stableId(`image\u0000${ref}`);
              if (!imageIds.has(imageId)) {
                imageIds.add(imageId);
                await out.write(`${images++ === 0 ? '' : ','}\n${JSON.stringify({ id: imageId, width: Math.round(width), height: Math.round(height), file_name: ref })}`);
              }
              const lineage = options.lineage ? { _sluice: { source: r.source, key: r.key, run: r.run, refinedBy: r.refinedBy ?? null } } : {};
              for (const [i, g] of found.regions.entries()) {
                let id = stableId(`annotation\u0000${ref}\u0000${r.key}\u0000${g.id}\u0000${i}`);
                while (annotationIds.has(id)) id = (id % MAX_ID) + 1; // a 52-bit collision: next free id
                annotationIds.add(id);
                await annotations.write(`${count++ === 0 ? '' : ','}\n${JSON.stringify(annotation(id, imageId, categoryId.get(g.label)!, g, lineage))}`);
              }
            }
          }
          await annotations.close();
          await out.write(`\n],"annotations":[`);
          for await (const chunk of createReadStream(annotationsFile)) await out.write(chunk as Buffer);
          await out.write(`\n],"categories":${JSON.stringify(categories.map((name, i) => ({ id: i + 1, name, supercategory: '' })))}}\n`);
        } catch (err) {
          annotations.destroy();
          out.destroy();
          throw err;
        } finally {
          await rm(annotationsFile, { force: true });
        }
        const file: ExportedFile = { path: out.name, format: 'coco', source: target.source, rows: images, ...(await out.close()), rejected, counts: { annotations: count, skippedResults: skipped } };
        return [file];
      },
    };
  },
});

/** Ids are 1..2^52-1: within every JSON reader's exact integers, never 0 (pycocotools' "unmatched"). */
const MAX_ID = 2 ** 52 - 1;

function stableId(text: string): number {
  const h = createHash('sha256').update(text).digest();
  return ((h.readUInt32BE(0) * 2 ** 20 + (h.readUInt32BE(4) >>> 12)) % MAX_ID) + 1;
}

function annotation(id: number, imageId: number, categoryId: number, g: Region, lineage: object) {
  return { id, image_id: imageId, category_id: categoryId, segmentation: [g.outline], area: g.area, bbox: g.bbox, iscrowd: 0, ...lineage };
}

function numberAt(data: Record<string, unknown>, field: string | undefined): number | null {
  if (field === undefined) return null;
  const v = Number(getJsonPath(data, parseJsonPath(field)));
  return Number.isFinite(v) ? v : null;
}

/** The labels of a config's region controls (never `<Choice>` values), in the order they appear. */
function categoriesFromConfig(labelConfig: string): string[] {
  let xml = labelConfig;
  try {
    xml = readFileSync(labelConfig, 'utf8');
  } catch {
    // not a file: the XML itself
  }
  const names = parseLabelConfig(xml)
    .controls.filter((c) => REGION_TYPES.has(c.type))
    .flatMap((c) => c.values);
  if (names.length === 0) throw new Error('the labeling config has no region labels (RectangleLabels, PolygonLabels, ...) to make categories of');
  return [...new Set(names)];
}

