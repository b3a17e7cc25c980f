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
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { VERSION } from '../src/core/version';
import { categoriesOf, imageFormatOptions, ImageReader } from '../src/export/annotated-images';
import { defineExporter, OutputFile, type ExportedFile } from '../src/export/exporter';
import type { Region } from '../src/export/regions';

export const cocoExporter = defineExporter({
  format: 'coco',
  description: 'COCO object detection JSON (images, annotations, categories) from image records with Label Studio regions.',
  options: imageFormatOptions({
    lineage: z.boolean().default(true).describe('Add `_sluice: { source, key, run, refinedBy }` to each annotation.'),
  }),
  create: (options) => {
    const categories = categoriesOf(options);
    const categoryId = new Map(categories.map((name, i) => [name, i + 1]));
    return {
      async write(target, input) {
        const reader = new ImageReader(options, new Set(categories));
        const out = target.open('coco.json');
        const annotationsFile = join(target.dir, `.${out.name}.annotations`);
        const annotations = new OutputFile(annotationsFile);
        const imageIds = new Set<number>();
        const annotationIds = new Set<number>();
        let images = 0;
        let count = 0;
        try {
          const info = { year: new Date().getUTCFullYear(), version: VERSION, description: `${target.source}${target.split ? ` (${target.split})` : ''}`, contributor: 'Sluice', url: '', date_created: new Date().toISOString() };
          await out.write(`{"info":${JSON.stringify(info)},"licenses":[],"images":[`);
          for await (const { record: r, ref, width, height, regions } of reader.images(input)) {
            const imageId = stableId(`image\u0000${ref}`);
            if (!imageIds.has(imageId)) {
              imageIds.add(imageId);
              await out.write(`${images++ === 0 ? '' : ','}\n${JSON.stringify({ id: imageId, width: Math.round(width), height: Math.round(height), file_name: ref })}`);
            }
            const lineage = options.lineage ? { _sluice: { source: r.source, key: r.key, run: r.run, refinedBy: r.refinedBy ?? null } } : {};
            for (const [i, g] of regions.entries()) {
              let id = stableId(`annotation\u0000${ref}\u0000${r.key}\u0000${g.id}\u0000${i}`);
              while (annotationIds.has(id)) id = (id % MAX_ID) + 1; // a 52-bit collision: next free id
              annotationIds.add(id);
              await annotations.write(`${count++ === 0 ? '' : ','}\n${JSON.stringify(annotation(id, imageId, categoryId.get(g.label)!, g, lineage))}`);
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
        const counts = { annotations: count, skippedResults: reader.skipped };
        const file: ExportedFile = { path: out.name, format: 'coco', source: target.source, rows: images, ...(await out.close()), rejected: reader.rejected, counts };
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
