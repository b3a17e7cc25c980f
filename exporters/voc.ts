/**
 * Pascal VOC from records holding an image reference and Label Studio regions, read as the COCO
 * exporter reads them (see `src/export/annotated-images.ts`). In `<source>.voc/`:
 *
 * - `Annotations/<image name>.xml`, one per image: `filename`, `path` (the reference as staged), `size`
 *   (width, height, depth 3: the depth is not known from the annotation), and an `object` per region
 *   with its `name` (the category), `pose` Unspecified, `truncated` and `difficult` 0, and `bndbox` in
 *   whole pixels clamped to the image: `xmin`/`ymin` the box's left/top edge rounded, `xmax`/`ymax` its
 *   right/bottom edge rounded (as Label Studio's own VOC converter writes them); a polygon or a rotated
 *   box gets the box around it;
 * - `ImageSets/Main/<split or all>.txt`: the annotation file names without `.xml`, one a line, VOC's
 *   image set list;
 * - `labels.txt`: the category names, in order.
 *
 * Images are referenced, not copied; the annotation file is named after the image file (two images with
 * one name: the later is left out with the reason). Several records of one image merge their objects.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { categoriesOf, imageFormatOptions, ImageReader, type AnnotatedImage } from '../src/export/annotated-images';
import { defineExporter, type ExportedFile } from '../src/export/exporter';
import { imageFileName, imageStem, PerImageFiles, writeText } from '../src/export/image-files';

export const vocExporter = defineExporter({
  format: 'voc',
  compressible: false,
  description: 'Pascal VOC XML (an annotation file per image, image set lists) from image records with Label Studio regions.',
  options: imageFormatOptions({}),
  create: (options) => {
    const categories = categoriesOf(options);
    return {
      async write(target, input) {
        const reader = new ImageReader(options, new Set(categories));
        const folder = `${target.source}.voc`;
        const annotations = new PerImageFiles(target.dir, `${folder}/Annotations`, 'xml', {
          create: (image) => `<annotation>\n${header(image)}${objects(image)}</annotation>\n`,
          merge: (existing, image) => existing.replace(/<\/annotation>\n$/, `${objects(image)}</annotation>\n`),
        });
        for await (const image of reader.images(input)) await annotations.add(image, reader);
        const stems = annotations.images().map(imageStem);
        const list = await writeText(target.dir, `${folder}/ImageSets/Main/${target.split ?? 'all'}.txt`, stems);
        const files: ExportedFile[] = [{ ...list, format: 'voc', source: target.source, rows: stems.length, rejected: reader.rejected, counts: { skippedResults: reader.skipped } }];
        // every split's call shares the one label list
        if (!existsSync(join(target.dir, folder, 'labels.txt'))) {
          files.push({ ...(await writeText(target.dir, `${folder}/labels.txt`, categories)), format: 'voc', source: target.source, rows: categories.length, role: 'classes' });
        }
        for (const f of await annotations.listed({ format: 'voc', source: target.source })) files.push({ ...f, role: 'labels' });
        return files;
      },
    };
  },
});

function header(image: AnnotatedImage): string {
  return (
    `  <folder></folder>\n  <filename>${xml(imageFileName(image.ref))}</filename>\n  <path>${xml(image.ref)}</path>\n` +
    `  <source><database>Sluice</database></source>\n` +
    `  <size><width>${Math.round(image.width)}</width><height>${Math.round(image.height)}</height><depth>3</depth></size>\n` +
    `  <segmented>0</segmented>\n`
  );
}

function objects(image: AnnotatedImage): string {
  const W = Math.round(image.width);
  const H = Math.round(image.height);
  return image.regions
    .map((g) => {
      const [x, y, w, h] = g.bbox;
      const edge = (v: number, max: number) => Math.min(max, Math.max(0, Math.round(v)));
      return (
        `  <object>\n    <name>${xml(g.label)}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n    <difficult>0</difficult>\n` +
        `    <bndbox><xmin>${edge(x, W)}</xmin><ymin>${edge(y, H)}</ymin><xmax>${edge(x + w, W)}</xmax><ymax>${edge(y + h, H)}</ymax></bndbox>\n  </object>\n`
      );
    })
    .join('');
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
