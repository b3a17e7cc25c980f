// COCO round trip: for any images and Label Studio boxes and polygons (percent of any image size, any
// labels of the categories), the exported file passes the pycocotools checks, has one image per distinct
// image, and its pixels convert back to exactly the percent values that were staged.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { cocoExporter } from '../../exporters/coco';
import { OutputFile } from '../../src/export/exporter';
import { openStore } from '../../src/stage/open';
import { cocoProblems, type Coco } from '../helpers/coco-check';
import { anyImage, box, LABELS, percentAt as pct, percentSize as size, stageImages } from '../helpers/image-records';
import { tempDir } from '../helpers/prop-support';

const region = fc.oneof(
  fc.record({ kind: fc.constant('box' as const), x: pct, y: pct, w: size, h: size, label: fc.constantFrom(...LABELS) }),
  // a polygon with area: a right triangle, then any further points
  fc
    .record({ x: pct, y: pct, a: size, b: size, more: fc.array(fc.tuple(pct, pct), { maxLength: 3 }), label: fc.constantFrom(...LABELS) })
    .map(({ x, y, a, b, more, label }) => ({ kind: 'polygon' as const, points: [[x, y], [x + a, y], [x, y + b], ...more], label })),
);
const records = fc.array(fc.record({ image: anyImage, regions: fc.array(region, { maxLength: 4 }) }), { minLength: 1, maxLength: 12 });

test('property: COCO holds exactly the staged regions, one image per image, valid for pycocotools', async () => {
  const tmp = tempDir('coco-rt');
  const store = openStore(`sqlite:${join(tmp.path, 'staging.db')}`);
  await store.migrate();
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(records, async (recs) => {
        const pipeline = `coco${++n}`;
        const input = await stageImages(store, pipeline, recs, (r, W, H) =>
          r.regions.map((g, j) =>
            g.kind === 'box'
              ? box(`r${j}`, g.label, g.x, g.y, g.w, g.h, W, H)
              : { id: `r${j}`, type: 'polygonlabels', original_width: W, original_height: H, value: { points: g.points, polygonlabels: [g.label] } },
          ),
        );
        const dir = join(tmp.path, pipeline);
        mkdirSync(dir);
        const exporter = cocoExporter.create(cocoExporter.options.parse({ categories: LABELS }));
        const [file] = await exporter.write({ dir, source: 'shots', fields: [], open: (ext) => OutputFile.in(dir, `shots.${ext}`) }, input);
        const coco = JSON.parse(readFileSync(join(dir, file!.path), 'utf8')) as Coco;

        const withRegions = recs.filter((r) => r.regions.length > 0);
        expect(cocoProblems(coco)).toEqual([]);
        expect(coco.images.map((i) => i.file_name).sort()).toEqual([...new Set(withRegions.map((r) => r.image.name))].sort());
        expect(file!.rejected).toEqual(recs.filter((r) => r.regions.length === 0).map((r) => expect.objectContaining({ key: String(recs.indexOf(r)) })));
        const images = new Map(coco.images.map((i) => [i.id, i]));
        const back = coco.annotations.map((a) => {
          const img = images.get(a.image_id)!;
          const label = coco.categories.find((c) => c.id === a.category_id)!.name;
          const poly = a.segmentation[0]!;
          const pts = Array.from({ length: poly.length / 2 }, (_, k) => [(poly[2 * k]! / img.width) * 100, (poly[2 * k + 1]! / img.height) * 100]);
          return { key: (a._sluice as { key: string }).key, label, pts };
        });
        const want = recs.flatMap((r, i) =>
          r.regions.map((g) => ({
            key: String(i),
            label: g.label,
            pts: g.kind === 'box' ? [[g.x, g.y], [g.x + g.w, g.y], [g.x + g.w, g.y + g.h], [g.x, g.y + g.h]] : g.points,
          })),
        );
        expect(back).toHaveLength(want.length);
        back.forEach((b, i) => {
          expect([b.key, b.label]).toEqual([want[i]!.key, want[i]!.label]);
          b.pts.forEach((p, k) => {
            expect(p[0]).toBeCloseTo(want[i]!.pts[k]![0]!, 6);
            expect(p[1]).toBeCloseTo(want[i]!.pts[k]![1]!, 6);
          });
        });
      }),
      { numRuns: 40 },
    );
  } finally {
    await store.close();
    tmp.remove();
  }
}, 60_000);
