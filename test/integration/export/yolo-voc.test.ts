// The YOLO and Pascal VOC exporters in whole runs: the real Label Studio export in fixtures/ gives the
// same boxes as Label Studio's own converter (normalised for YOLO, whole pixels for VOC); one file per
// image, several records of one image merged into it (or the latest annotation's alone); the class list
// in category order; an image whose file name another image already took is left out with the reason
// and quarantined; splits get their own label folders and lists.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { Manifest } from '../../../src/export/manifest';
import { loadPipeline } from '../../../src/run/pipeline';
import { runPipeline, type RunSummary } from '../../../src/run/run';
import { openStore } from '../../../src/stage/open';
import { box, LABEL_STUDIO_FIXTURES, realTask, shotsSource, visionPipeline } from '../../helpers/image-records';

const expectedCoco = () =>
  JSON.parse(readFileSync(join(LABEL_STUDIO_FIXTURES, 'expected_coco_result.generated.json'), 'utf8')) as {
    images: { width: number; height: number }[];
    categories: { id: number; name: string }[];
    annotations: { category_id: number; bbox: number[]; segmentation: number[][]; keypoints?: number[] }[];
  };

let dir: string;
let insert: ReturnType<typeof shotsSource>;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-yolo-'));
  insert = shotsSource(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const pipeline = (format: 'yolo' | 'voc', options: string): string => visionPipeline(dir, format, options);

const run = (file: string, full = false): Promise<RunSummary> => runPipeline(loadPipeline(file, {}), { env: {}, full });
const folderOf = (s: RunSummary, format: string) => join(s.exports[0]!.dir, `shots.${format}`);
const read = (s: RunSummary, format: string, path: string) => readFileSync(join(folderOf(s, format), path), 'utf8');
const manifestOf = (s: RunSummary): Manifest => JSON.parse(readFileSync(join(s.exports[0]!.dir, 'manifest.json'), 'utf8')) as Manifest;
const numbers = (line: string) => line.split(' ').map(Number);
const vocOf = (text: string) =>
  new XMLParser({ isArray: (name) => name === 'object' }).parse(text) as {
    annotation: { filename: string; path: string; size: { width: number; height: number; depth: number }; object: { name: string; bndbox: Record<'xmin' | 'ymin' | 'xmax' | 'ymax', number> }[] };
  };

test('YOLO from the real Label Studio export: Label Studio\'s boxes and polygon, normalised, classes in config order', async () => {
  const task = realTask();
  insert([[1, task.data.image, { result: task.annotations[0]!.result }]]);
  const expected = expectedCoco();
  const { width: W, height: H } = expected.images[0]!;
  const theirs = (name: string) => expected.annotations.find((a) => !a.keypoints && expected.categories.find((c) => c.id === a.category_id)!.name === name)!;

  const boxes = await run(pipeline('yolo', `    labelConfig: ${join(LABEL_STUDIO_FIXTURES, 'label_config.xml')}`));
  expect(read(boxes, 'yolo', 'classes.txt')).toBe('rectangle_label\npolygon_label\n');
  expect(read(boxes, 'yolo', 'images.txt')).toBe('test_image1.jpg\n');
  const lines = read(boxes, 'yolo', 'labels/test_image1.txt').trimEnd().split('\n').map(numbers);
  expect(lines.map((l) => l[0])).toEqual([0, 1]);
  for (const [i, name] of ['rectangle_label', 'polygon_label'].entries()) {
    const [x, y, w, h] = theirs(name).bbox as [number, number, number, number];
    [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H].forEach((v, j) => expect(lines[i]![j + 1]).toBeCloseTo(v, 6));
  }
  expect(manifestOf(boxes).files.filter((f) => f.format === 'yolo').map((f) => [f.path, f.rows, f.role])).toEqual([
    ['shots.yolo/images.txt', 1, undefined],
    ['shots.yolo/classes.txt', 2, 'classes'],
    ['shots.yolo/labels/test_image1.txt', 2, 'labels'],
  ]);
  expect(boxes.exports[0]!.rows).toBe(1);

  const polygons = await run(pipeline('yolo', `    labelConfig: ${join(LABEL_STUDIO_FIXTURES, 'label_config.xml')}\n    shapes: polygons`), true);
  const outline = read(polygons, 'yolo', 'labels/test_image1.txt').trimEnd().split('\n').map(numbers)[1]!;
  expect(outline[0]).toBe(1);
  theirs('polygon_label').segmentation[0]!.forEach((v, j) => expect(outline[j + 1]).toBeCloseTo(v / (j % 2 === 0 ? W : H), 6));
});

test('VOC from the real Label Studio export: an XML per image with its size and Label Studio\'s boxes in whole pixels', async () => {
  const task = realTask();
  insert([[1, task.data.image, { result: task.annotations[0]!.result }]]);
  const expected = expectedCoco();
  const s = await run(pipeline('voc', `    labelConfig: ${join(LABEL_STUDIO_FIXTURES, 'label_config.xml')}`));
  const voc = vocOf(read(s, 'voc', 'Annotations/test_image1.xml')).annotation;
  expect(voc).toMatchObject({ filename: 'test_image1.jpg', path: 'test_image1.jpg', size: { width: expected.images[0]!.width, height: expected.images[0]!.height, depth: 3 } });
  expect(voc.object.map((o) => o.name)).toEqual(['rectangle_label', 'polygon_label']);
  for (const o of voc.object) {
    const a = expected.annotations.find((e) => !e.keypoints && expected.categories.find((c) => c.id === e.category_id)!.name === o.name)!;
    const [x, y, w, h] = a.bbox as [number, number, number, number];
    expect(o.bndbox).toEqual({ xmin: Math.round(x), ymin: Math.round(y), xmax: Math.round(x + w), ymax: Math.round(y + h) });
  }
  expect(read(s, 'voc', 'ImageSets/Main/all.txt')).toBe('test_image1\n');
  expect(read(s, 'voc', 'labels.txt')).toBe('rectangle_label\npolygon_label\n');
});

test('several records of one image share its file (merge), or the latest annotation alone (latest); XML text is escaped', async () => {
  insert([
    [1, 'https://cdn.test/a%20b.jpg', { result: [box('r1', 'car', 10, 10, 20, 20)], annotatedAt: '2026-01-01T00:00:00Z' }],
    [2, 'https://cdn.test/a%20b.jpg', { result: [box('r2', 'cat & dog', 50, 50, 10, 30)], annotatedAt: '2026-02-01T00:00:00Z' }],
  ]);
  const merged = await run(pipeline('yolo', '    categories: [car, "cat & dog"]'));
  expect(read(merged, 'yolo', 'labels/a b.txt').trimEnd().split('\n').map((l) => l.split(' ')[0])).toEqual(['0', '1']);
  expect(read(merged, 'yolo', 'images.txt')).toBe('https://cdn.test/a%20b.jpg\n');

  const voc = await run(pipeline('voc', '    categories: [car, "cat & dog"]'), true);
  const xml = read(voc, 'voc', 'Annotations/a b.xml');
  expect(xml).toContain('<name>cat &amp; dog</name>');
  expect(vocOf(xml).annotation).toMatchObject({ filename: 'a b.jpg', path: 'https://cdn.test/a%20b.jpg' });
  expect(vocOf(xml).annotation.object.map((o) => o.bndbox)).toEqual([
    { xmin: 100, ymin: 50, xmax: 300, ymax: 150 },
    { xmin: 500, ymin: 250, xmax: 600, ymax: 400 },
  ]);

  const latest = await run(pipeline('voc', '    categories: [car, "cat & dog"]\n    images: latest'), true);
  expect(vocOf(read(latest, 'voc', 'Annotations/a b.xml')).annotation.object.map((o) => o.name)).toEqual(['cat & dog']);
});

test('a second image with the same file name is left out with the reason and quarantined, not written over the first', async () => {
  insert([
    [1, 'left/cat.jpg', { result: [box('r1', 'car', 10, 10, 20, 20)] }],
    [2, 'right/cat.png', { result: [box('r2', 'car', 10, 10, 20, 20)] }],
  ]);
  const s = await run(pipeline('yolo', '    categories: [car]'));
  expect(read(s, 'yolo', 'images.txt')).toBe('left/cat.jpg\n');
  expect(manifestOf(s).files[0]!.rejected).toEqual([
    { key: '2', seq: expect.any(Number), reason: 'image right/cat.png has the same file name as left/cat.jpg: shots.yolo/labels/cat.txt is already written for that one' },
  ]);
  const store = openStore(`sqlite:${join(dir, 'staging.db')}`);
  try {
    expect((await store.held('vision', { limit: 10 })).map((h) => [h.key, h.status])).toEqual([['2', 'quarantined']]);
  } finally {
    await store.close();
  }
});

test('splits: labels per split folder, one list per split, one class list', async () => {
  insert(Array.from({ length: 30 }, (_, i): [number, string, unknown] => [i + 1, `img${i}.jpg`, { result: [box(`r${i}`, 'car', 10, 10, 20, 20)] }]));
  const s = await run(pipeline('yolo', '    categories: [car]\n    split: { train: 0.7, val: 0.3 }'));
  const folder = folderOf(s, 'yolo');
  const train = readFileSync(join(folder, 'train.txt'), 'utf8').trimEnd().split('\n');
  const val = readFileSync(join(folder, 'val.txt'), 'utf8').trimEnd().split('\n');
  expect([...train, ...val].sort()).toEqual(Array.from({ length: 30 }, (_, i) => `img${i}.jpg`).sort());
  expect(readdirSync(join(folder, 'labels', 'train')).sort()).toEqual(train.map((t) => t.replace('.jpg', '.txt')).sort());
  expect(readdirSync(join(folder, 'labels', 'val')).sort()).toEqual(val.map((t) => t.replace('.jpg', '.txt')).sort());
  expect(readFileSync(join(folder, 'classes.txt'), 'utf8')).toBe('car\n');
  expect(s.exports[0]!.rows).toBe(30);
});

test('compress: gzip is refused for YOLO and VOC, at its line: their tools read plain files', () => {
  for (const format of ['yolo', 'voc'] as const) {
    expect(() => loadPipeline(pipeline(format, '    categories: [car]\n    compress: gzip'), {})).toThrow(
      new RegExp(`p\\.yaml:\\d+:\\d+ export\\[0\\]\\.compress: ${format} files are not compressed`),
    );
  }
});
