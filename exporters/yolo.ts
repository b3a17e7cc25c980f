/**
 * YOLO (the Darknet / Ultralytics text format) from records holding an image reference and Label Studio
 * regions, read as the COCO exporter reads them (see `src/export/annotated-images.ts`). In
 * `<source>.yolo/`:
 *
 * - `labels/[<split>/]<image name>.txt`, one per image: a line per region, `class x_center y_center
 *   width height`, normalised to 0..1 by the image's size, class ids 0-based in the order of the
 *   categories; with `shapes: polygons`, YOLO's segmentation lines instead, `class x1 y1 x2 y2 ...`
 *   (a box as its four corners). Coordinates are clamped to the image, as YOLO trainers require;
 * - `classes.txt`: the category names, one a line, line n holding class n - 1 (`obj.names`);
 * - `images.txt` (or `<split>.txt`): the image references, one a line, the list a `data.yaml`'s `train:`
 *   or `val:` can name. Images are referenced, not copied: YOLO finds each label file by the image's
 *   name, so the label file is named after the image file (two images with one name: the later is left
 *   out with the reason, as a record without a size is).
 *
 * Nothing is compressed (`compress: gzip` is refused): trainers read these files as plain text.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { categoriesOf, imageFormatOptions, ImageReader, type AnnotatedImage } from '../src/export/annotated-images';
import { defineExporter, type ExportedFile } from '../src/export/exporter';
import { PerImageFiles, writeText } from '../src/export/image-files';
import type { Region } from '../src/export/regions';

export const yoloExporter = defineExporter({
  format: 'yolo',
  compressible: false,
  description: 'YOLO labels (a .txt per image, normalised boxes or polygons) with classes.txt, from image records with Label Studio regions.',
  options: imageFormatOptions({
    shapes: z.enum(['boxes', 'polygons']).default('boxes').describe('`boxes`: `class xc yc w h` lines (detection); `polygons`: `class x1 y1 ...` lines (segmentation).'),
  }),
  create: (options) => {
    const categories = categoriesOf(options);
    const classOf = new Map(categories.map((name, i) => [name, i]));
    const lines = (image: AnnotatedImage) =>
      image.regions.map((g) => `${classOf.get(g.label)!} ${(options.shapes === 'boxes' ? boxOf(g, image) : outlineOf(g, image)).map(coordinate).join(' ')}\n`).join('');
    return {
      async write(target, input) {
        const reader = new ImageReader(options, new Set(categories));
        const folder = `${target.source}.yolo`;
        const labels = new PerImageFiles(target.dir, `${folder}/labels${target.split ? `/${target.split}` : ''}`, 'txt', {
          create: lines,
          merge: (existing, image) => existing + lines(image),
        });
        for await (const image of reader.images(input)) await labels.add(image, reader);
        const files: ExportedFile[] = [];
        const list = await writeText(target.dir, `${folder}/${target.split ?? 'images'}.txt`, labels.images());
        files.push({ ...list, format: 'yolo', source: target.source, rows: labels.images().length, rejected: reader.rejected, counts: { skippedResults: reader.skipped } });
        // every split's call shares the one class list
        if (!existsSync(join(target.dir, folder, 'classes.txt'))) {
          files.push({ ...(await writeText(target.dir, `${folder}/classes.txt`, categories)), format: 'yolo', source: target.source, rows: categories.length, role: 'classes' });
        }
        for (const f of await labels.listed({ format: 'yolo', source: target.source })) files.push({ ...f, role: 'labels' });
        return files;
      },
    };
  },
});

/** Centre, width and height over the image's size, the box clamped to the image. */
function boxOf(g: Region, image: AnnotatedImage): number[] {
  const [x, y, w, h] = g.bbox;
  const x0 = clamp(x / image.width);
  const y0 = clamp(y / image.height);
  const x1 = clamp((x + w) / image.width);
  const y1 = clamp((y + h) / image.height);
  return [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0];
}

function outlineOf(g: Region, image: AnnotatedImage): number[] {
  return g.outline.map((v, i) => clamp(v / (i % 2 === 0 ? image.width : image.height)));
}

const clamp = (v: number) => Math.min(1, Math.max(0, v));

/** Six decimals (a tenth of a pixel at 10,000 pixels), without trailing zeros. */
const coordinate = (v: number) => String(Number(v.toFixed(6)));
