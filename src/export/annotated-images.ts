/**
 * Image records for the detection formats (COCO, YOLO, Pascal VOC): each record's image reference, its
 * Label Studio regions in pixels (see `regions.ts`) and the image's size, read and checked the same way
 * for every format. A record that cannot make a valid entry — no image reference, no known size, a
 * region without area, a label that is not a category — is left out with the reason (`rejected`), for
 * the runner to quarantine; results that are not regions (choices, keypoints) are counted as skipped.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { getJsonPath, parseJsonPath } from '../core/json-path';
import { parseLabelConfig } from '../core/label-config';
import type { StagedRecord } from '../core/record';
import type { ExportedFile, ExportInput } from './exporter';
import { regionsOf, type Region } from './regions';

/** The options every detection format takes, beside its own. */
export const imageOptionsShape = {
  image: z.string().min(1).default('image').describe('The record field holding the image reference (URL or path).'),
  annotations: z.string().min(1).default('annotation.result').describe('Path to the Label Studio result list in each record.'),
  width: z.string().min(1).optional().describe('A record field with the image width in pixels, for images without regions.'),
  height: z.string().min(1).optional().describe('A record field with the image height in pixels.'),
  categories: z.array(z.string().min(1)).min(1).optional().describe('The category names, in id order.'),
  labelConfig: z.string().min(1).optional().describe('A labeling config (file or XML) whose region labels are the categories.'),
  images: z.enum(['merge', 'latest']).default('merge').describe('When several records annotate one image: merge their regions, or keep the latest annotation\'s.'),
};

export type ImageOptions = z.output<z.ZodObject<typeof imageOptionsShape>>;

/** A format's options: the shared ones and its own, with the categories given exactly one way. */
export function imageFormatOptions<S extends z.ZodRawShape>(own: S) {
  return z
    .strictObject({ ...imageOptionsShape, ...own })
    .refine((o) => {
      const { categories, labelConfig } = o as Partial<ImageOptions>;
      return (categories === undefined) !== (labelConfig === undefined);
    }, 'give the categories: `categories: [...]` or `labelConfig:`');
}

export interface AnnotatedImage {
  record: StagedRecord;
  /** the image reference as the record holds it */
  ref: string;
  width: number;
  height: number;
  /** in pixels, each labelled with a category */
  regions: Region[];
}

export type Rejection = NonNullable<ExportedFile['rejected']>[number];

const REGION_TYPES = new Set(['rectanglelabels', 'polygonlabels', 'labels', 'ellipselabels', 'brushlabels']);

/** The category names, in order: as given, or the labels of the config's region controls (never `<Choice>` values). */
export function categoriesOf(o: Pick<ImageOptions, 'categories' | 'labelConfig'>): string[] {
  if (o.categories) return o.categories;
  let xml = o.labelConfig!;
  try {
    xml = readFileSync(xml, 'utf8');
  } catch {
    // not a file: the XML itself
  }
  const names = parseLabelConfig(xml)
    .controls.filter((c) => REGION_TYPES.has(c.type))
    .flatMap((c) => c.values);
  if (names.length === 0) throw new Error('the labeling config has no region labels (RectangleLabels, PolygonLabels, ...) to make categories of');
  return [...new Set(names)];
}

/** Reads the image records of one export, keeping what it left out and why. */
export class ImageReader {
  readonly rejected: Rejection[] = [];
  /** results that are not regions (choices, keypoints, ...) */
  skipped = 0;
  private readonly imagePath: ReturnType<typeof parseJsonPath>;
  private readonly resultPath: ReturnType<typeof parseJsonPath>;
  private readonly atPath: ReturnType<typeof parseJsonPath>;

  constructor(
    private readonly o: ImageOptions,
    private readonly categories: ReadonlySet<string>,
  ) {
    this.imagePath = parseJsonPath(o.image);
    this.resultPath = parseJsonPath(o.annotations);
    // the Label Studio step keeps `annotatedAt` beside `result`: what `images: latest` compares
    this.atPath = parseJsonPath(o.annotations.replace(/\.result$/, '.annotatedAt'));
  }

  /** The records that make valid image entries, in change order (with `images: latest`, only each image's newest). */
  async *images(input: ExportInput): AsyncGenerator<AnnotatedImage> {
    const winners = this.o.images === 'latest' ? await this.latest(input) : undefined;
    for await (const page of input.records()) {
      for (const record of page) {
        const { data, ref, results } = this.read(record);
        if (ref === undefined) {
          this.reject(record, `no image reference at ${this.o.image}`);
          continue;
        }
        if (winners && winners.get(ref)?.key !== record.key) continue;
        const found = regionsOf(results);
        this.skipped += found.skipped;
        const width = found.width ?? this.numberAt(data, this.o.width);
        const height = found.height ?? this.numberAt(data, this.o.height);
        if (!(width && height && width > 0 && height > 0)) {
          const fields = this.o.width ? `, no ${this.o.width}/${this.o.height}` : '';
          this.reject(record, `the size of image ${ref} is not known (no region with original_width/height${fields})`);
          continue;
        }
        const flat = found.regions.find((g) => !(g.bbox[2] > 0 && g.bbox[3] > 0 && g.area > 0));
        if (flat) {
          this.reject(record, `region ${flat.id} has no area (bbox ${JSON.stringify(flat.bbox)})`);
          continue;
        }
        const unknown = found.regions.find((g) => !this.categories.has(g.label));
        if (unknown) {
          this.reject(record, `label ${JSON.stringify(unknown.label)} is not one of the categories`);
          continue;
        }
        yield { record, ref, width, height, regions: found.regions };
      }
    }
  }

  reject(record: StagedRecord, reason: string): void {
    this.rejected.push({ key: record.key, seq: record.seq, reason });
  }

  /** A first pass: per image, the record whose annotation is newest. */
  private async latest(input: ExportInput): Promise<Map<string, { key: string; at: string }>> {
    const winners = new Map<string, { key: string; at: string }>();
    for await (const page of input.records()) {
      for (const r of page) {
        const { ref, at } = this.read(r);
        const w = ref === undefined ? undefined : winners.get(ref);
        if (ref !== undefined && (!w || at > w.at)) winners.set(ref, { key: r.key, at });
      }
    }
    return winners;
  }

  private read(r: StagedRecord) {
    const data = JSON.parse(r.json!) as Record<string, unknown>;
    const ref = getJsonPath(data, this.imagePath);
    const results = getJsonPath(data, this.resultPath);
    const annotatedAt = getJsonPath(data, this.atPath);
    return { data, ref: typeof ref === 'string' && ref !== '' ? ref : undefined, results: Array.isArray(results) ? results : [], at: String(annotatedAt ?? '') };
  }

  private numberAt(data: Record<string, unknown>, field: string | undefined): number | null {
    if (field === undefined) return null;
    const v = Number(getJsonPath(data, parseJsonPath(field)));
    return Number.isFinite(v) ? v : null;
  }
}
