// YOLO and Pascal VOC round trip: for any images (any size) and Label Studio boxes (percent, any labels
// of the categories), each image with regions gets one file listing every region of every record of it,
// in order; YOLO's normalised boxes convert back to the staged pixels (to a millionth of the image),
// VOC's to the staged edges rounded to whole pixels; a record without regions has no known size and is
// left out with the reason.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { vocExporter } from '../../exporters/voc';
import { yoloExporter } from '../../exporters/yolo';
import { OutputFile } from '../../src/export/exporter';
import { imageStem } from '../../src/export/image-files';
import { openStore } from '../../src/stage/open';
import { anyImage, box, LABELS, percentAt as pct, percentSize as size, sizeByName, stageImages } from '../helpers/image-records';
import { tempDir } from '../helpers/prop-support';

const rect = fc.record({ x: pct, y: pct, w: size, h: size, label: fc.constantFrom(...LABELS) });
const records = fc.array(fc.record({ image: anyImage, boxes: fc.array(rect, { maxLength: 4 }) }), { minLength: 1, maxLength: 12 });

test('property: YOLO and VOC hold exactly the staged boxes, one file per image, every image listed', async () => {
  const tmp = tempDir('detection-rt');
  const store = openStore(`sqlite:${join(tmp.path, 'staging.db')}`);
  await store.migrate();
  const parser = new XMLParser({ isArray: (name) => name === 'object' });
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(records, async (recs) => {
        const pipeline = `det${++n}`;
        const sizeOf = sizeByName(recs);
        const input = await stageImages(store, pipeline, recs, (r, W, H) => r.boxes.map((g, j) => box(`r${j}`, g.label, g.x, g.y, g.w, g.h, W, H)));
        const dir = join(tmp.path, pipeline);
        mkdirSync(dir);
        const target = { dir, source: 'shots', fields: [], open: (ext: string) => OutputFile.in(dir, `shots.${ext}`) };
        const yolo = await yoloExporter.create(yoloExporter.options.parse({ categories: LABELS })).write(target, input);
        const voc = await vocExporter.create(vocExporter.options.parse({ categories: LABELS })).write(target, input);

        // what each image should hold: the boxes of all its records, in record order, in pixels
        const want = new Map<string, { W: number; H: number; boxes: { label: string; x: number; y: number; w: number; h: number }[] }>();
        for (const r of recs.filter((x) => x.boxes.length > 0)) {
          const { W, H } = sizeOf.get(r.image.name)!;
          const entry = want.get(r.image.name) ?? { W, H, boxes: [] };
          entry.boxes.push(...r.boxes.map((g) => ({ label: g.label, x: (g.x / 100) * W, y: (g.y / 100) * H, w: (g.w / 100) * W, h: (g.h / 100) * H })));
          want.set(r.image.name, entry);
        }
        const rejected = recs.flatMap((r, i) => (r.boxes.length === 0 ? [expect.objectContaining({ key: String(i) })] : []));
        expect(yolo[0]!.rejected).toEqual(rejected);
        expect(voc[0]!.rejected).toEqual(rejected);
        expect(readFileSync(join(dir, 'shots.yolo/images.txt'), 'utf8').split('\n').filter(Boolean)).toEqual([...want.keys()]);
        expect(readFileSync(join(dir, 'shots.voc/ImageSets/Main/all.txt'), 'utf8').split('\n').filter(Boolean)).toEqual([...want.keys()].map(imageStem));
        expect(yolo.filter((f) => f.role === 'labels')).toHaveLength(want.size);
        expect(voc.filter((f) => f.role === 'labels')).toHaveLength(want.size);

        for (const [name, { W, H, boxes }] of want) {
          const lines = readFileSync(join(dir, `shots.yolo/labels/${imageStem(name)}.txt`), 'utf8').trimEnd().split('\n');
          expect(lines).toHaveLength(boxes.length);
          lines.forEach((line, i) => {
            const [c, cx, cy, w, h] = line.split(' ').map(Number) as [number, number, number, number, number];
            const g = boxes[i]!;
            expect(LABELS[c]).toBe(g.label);
            expect(Math.abs(cx * W - (g.x + g.w / 2))).toBeLessThanOrEqual(1e-6 * W);
            expect(Math.abs(cy * H - (g.y + g.h / 2))).toBeLessThanOrEqual(1e-6 * H);
            expect(Math.abs(w * W - g.w)).toBeLessThanOrEqual(1e-6 * W);
            expect(Math.abs(h * H - g.h)).toBeLessThanOrEqual(1e-6 * H);
          });
          const xml = parser.parse(readFileSync(join(dir, `shots.voc/Annotations/${imageStem(name)}.xml`), 'utf8')) as {
            annotation: { size: { width: number; height: number }; object: { name: string; bndbox: Record<string, number> }[] };
          };
          expect(xml.annotation.size).toMatchObject({ width: W, height: H });
          expect(xml.annotation.object.map((o) => [o.name, o.bndbox])).toEqual(
            boxes.map((g) => [g.label, { xmin: Math.round(g.x), ymin: Math.round(g.y), xmax: Math.round(g.x + g.w), ymax: Math.round(g.y + g.h) }]),
          );
        }
      }),
      { numRuns: 40 },
    );
  } finally {
    await store.close();
    tmp.remove();
  }
}, 60_000);
