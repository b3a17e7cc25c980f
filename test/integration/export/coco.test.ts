// The COCO exporter in whole runs: records holding an image and Label Studio regions (as the Label Studio
// step merges them) become a COCO file that passes what pycocotools relies on; the real Label Studio
// export in fixtures/ converts to the same boxes, polygon and areas as Label Studio's own converter, with
// the documented differences; one image entry per image; ids stable across exports; a record whose image
// has no known size is left out with the reason in the manifest and quarantined.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import type { Manifest } from '../../../src/export/manifest';
import { openStore } from '../../../src/stage/open';
import { cocoProblems, type Coco } from '../../helpers/coco-check';
import { box, LABEL_STUDIO_FIXTURES, realTask, shotsSource, visionPipeline } from '../../helpers/image-records';

let dir: string;
let insert: ReturnType<typeof shotsSource>;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-coco-'));
  insert = shotsSource(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const pipeline = (options: string): string => visionPipeline(dir, 'coco', options);

const run = (file: string, full = false): Promise<RunSummary> => runPipeline(loadPipeline(file, {}), { env: {}, full });
const cocoOf = (s: RunSummary): Coco => JSON.parse(readFileSync(join(s.exports[0]!.dir, 'shots.coco.json'), 'utf8')) as Coco;
const manifestOf = (s: RunSummary): Manifest => JSON.parse(readFileSync(join(s.exports[0]!.dir, 'manifest.json'), 'utf8')) as Manifest;

test('the real Label Studio export: the same boxes, polygon and areas as Label Studio\'s converter, with the documented differences', async () => {
  const task = realTask();
  insert([[1, task.data.image, { result: task.annotations[0]!.result, annotatedAt: task.annotations[0]!.updated_at }]]);
  const s = await run(pipeline(`    labelConfig: ${join(LABEL_STUDIO_FIXTURES, 'label_config.xml')}`));
  const coco = cocoOf(s);
  expect(cocoProblems(coco)).toEqual([]);
  type Expected = Omit<Coco, 'annotations'> & { annotations: (Coco['annotations'][number] & { keypoints?: number[] })[] };
  const expected = JSON.parse(readFileSync(join(LABEL_STUDIO_FIXTURES, 'expected_coco_result.generated.json'), 'utf8')) as Expected;

  // categories: the config's box and polygon labels, 1..n in config order (Label Studio: alphabetical from 0, plus a keypoint "default")
  expect(coco.categories.map((c) => c.name)).toEqual(['rectangle_label', 'polygon_label']);
  // one image, its size from the results (Label Studio's file_name is its local cache path; ours is the reference as given)
  expect(coco.images).toEqual([{ id: expect.any(Number), width: expected.images[0]!.width, height: expected.images[0]!.height, file_name: 'test_image1.jpg' }]);
  // boxes and polygons: the same pixels and areas; keypoints are not detection regions and are left out
  const name = (list: Coco['categories'], id: number) => list.find((c) => c.id === id)!.name;
  const ours = coco.annotations.map((a) => ({ category: name(coco.categories, a.category_id), bbox: a.bbox, area: a.area }));
  const theirs = expected.annotations.filter((a) => !a.keypoints).map((a) => ({ category: name(expected.categories, a.category_id), bbox: a.bbox, area: a.area }));
  expect(ours).toHaveLength(theirs.length);
  for (const [i, a] of ours.entries()) {
    expect(a.category).toBe(theirs[i]!.category);
    a.bbox.forEach((v, j) => expect(v).toBeCloseTo(theirs[i]!.bbox[j]!, 9));
    expect(a.area).toBeCloseTo(theirs[i]!.area, 9);
  }
  // the polygon's outline is Label Studio's; the box gets its four corners instead of []
  const polygon = coco.annotations.find((a) => name(coco.categories, a.category_id) === 'polygon_label')!;
  polygon.segmentation[0]!.forEach((v, j) => expect(v).toBeCloseTo(expected.annotations[1]!.segmentation[0]![j]!, 9));
  const rect = coco.annotations.find((a) => name(coco.categories, a.category_id) === 'rectangle_label')!;
  const [x, y, w, h] = rect.bbox as [number, number, number, number];
  expect(rect.segmentation).toEqual([[x, y, x + w, y, x + w, y + h, x, y + h]]);
  expect(rect._sluice).toEqual({ source: 'shots', key: '1', run: s.run, refinedBy: expect.any(String) });
  expect(manifestOf(s).files[0]).toMatchObject({ format: 'coco', rows: 1, counts: { annotations: 2, skippedResults: 2 }, rejected: [] });
});

test('one image entry per image: regions merged, or the latest annotation wins; ids stable across exports', async () => {
  insert([
    [1, 'a.jpg', { result: [box('r1', 'car', 10, 10, 20, 20)], annotatedAt: '2026-01-01T00:00:00Z' }],
    [2, 'a.jpg', { result: [box('r2', 'person', 50, 50, 10, 30)], annotatedAt: '2026-02-01T00:00:00Z' }],
    [3, 'b.jpg', { result: [box('r3', 'car', 0, 0, 100, 100, 640, 480)], annotatedAt: '2026-01-05T00:00:00Z' }],
  ]);
  const merged = cocoOf(await run(pipeline('    categories: [car, person]')));
  expect(cocoProblems(merged)).toEqual([]);
  expect(merged.images.map((i) => [i.file_name, i.width, i.height])).toEqual([['a.jpg', 1000, 500], ['b.jpg', 640, 480]]);
  expect(merged.annotations).toHaveLength(3);
  expect(merged.annotations[0]!.bbox).toEqual([100, 50, 200, 100]);
  expect(merged.categories).toEqual([{ id: 1, name: 'car', supercategory: '' }, { id: 2, name: 'person', supercategory: '' }]);

  const again = cocoOf(await run(pipeline('    categories: [car, person]'), true));
  expect(again.images.map((i) => i.id)).toEqual(merged.images.map((i) => i.id));
  expect(again.annotations.map((a) => a.id)).toEqual(merged.annotations.map((a) => a.id));

  const latest = cocoOf(await run(pipeline('    categories: [car, person]\n    images: latest'), true));
  expect(latest.images).toHaveLength(2);
  expect(latest.annotations.map((a) => a._sluice!.key)).toEqual(['2', '3']);
});

test('an image without a known size, a label that is not a category, or a region without area is left out with the reason and quarantined', async () => {
  insert([
    [1, 'a.jpg', { result: [box('r1', 'car', 10, 10, 20, 20)] }],
    [2, 'nosize.jpg', { result: [] }],
    [3, 'c.jpg', { result: [box('r3', 'truck', 1, 1, 5, 5)] }],
    [4, 'd.jpg', { result: [{ ...box('r4', 'car', 1, 1, 5, 5), type: 'polygonlabels', value: { points: [[1, 1], [2, 2], [3, 3]], polygonlabels: ['car'] } }] }],
  ]);
  const s = await run(pipeline('    categories: [car]'));
  const coco = cocoOf(s);
  expect(coco.images.map((i) => i.file_name)).toEqual(['a.jpg']);
  expect(manifestOf(s).files[0]!.rejected).toEqual([
    { key: '2', seq: expect.any(Number), reason: expect.stringMatching(/^the size of image nosize\.jpg is not known/) },
    { key: '3', seq: expect.any(Number), reason: 'label "truck" is not one of the categories' },
    { key: '4', seq: expect.any(Number), reason: expect.stringMatching(/^region r4 has no area/) },
  ]);
  const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
  try {
    const held = await store.held('vision', { limit: 10 });
    expect(held.map((h) => [h.key, h.status])).toEqual([['2', 'quarantined'], ['3', 'quarantined'], ['4', 'quarantined']]);
    expect(JSON.parse(held[1]!.detail)).toMatchObject({ step: 'export:coco', failures: [{ rule: 'export:coco', reason: 'label "truck" is not one of the categories' }] });
  } finally {
    await store.close();
  }
});

test('categories are required, from the file or a labeling config', () => {
  expect(() => loadPipeline(pipeline(''), {})).toThrow(/give the categories/);
});
