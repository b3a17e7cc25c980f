/**
 * What pycocotools relies on in a COCO ground-truth file (coco.md §3–5), checked the way a consumer
 * would meet it: `info` and `licenses` present, integer ids that are unique and ≥ 1, every `image_id`
 * and `category_id` resolving, boxes with positive size inside their image, `area` and `iscrowd`
 * present, polygons of at least three points (a 4-number list would be read as a box).
 */
export interface Coco {
  info: Record<string, unknown>;
  licenses: unknown[];
  images: { id: number; width: number; height: number; file_name: string }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number; segmentation: number[][]; _sluice?: Record<string, unknown> }[];
  categories: { id: number; name: string; supercategory?: string }[];
}

export function cocoProblems(c: Coco): string[] {
  const problems: string[] = [];
  if (typeof c.info !== 'object' || c.info === null || Array.isArray(c.info)) problems.push('no info object');
  if (!Array.isArray(c.licenses)) problems.push('no licenses array');
  const ids = (what: string, list: { id: number }[]) => {
    const seen = new Set<number>();
    for (const x of list) {
      if (!Number.isSafeInteger(x.id) || x.id < 1) problems.push(`${what} id ${x.id} is not a positive integer`);
      if (seen.has(x.id)) problems.push(`${what} id ${x.id} is used twice`);
      seen.add(x.id);
    }
    return seen;
  };
  const images = new Map(c.images.map((i) => [i.id, i]));
  ids('image', c.images);
  ids('annotation', c.annotations);
  const categories = ids('category', c.categories);
  for (const i of c.images) if (!Number.isInteger(i.width) || !Number.isInteger(i.height) || i.width <= 0 || i.height <= 0) problems.push(`image ${i.id} has no size`);
  for (const a of c.annotations) {
    const image = images.get(a.image_id);
    if (!image) problems.push(`annotation ${a.id}: image ${a.image_id} does not exist`);
    if (!categories.has(a.category_id)) problems.push(`annotation ${a.id}: category ${a.category_id} does not exist`);
    const [x, y, w, h] = a.bbox;
    if (a.bbox.length !== 4 || !(w! > 0 && h! > 0)) problems.push(`annotation ${a.id}: bbox ${JSON.stringify(a.bbox)} has no size`);
    const slack = 1e-6;
    if (image && (x! < -slack || y! < -slack || x! + w! > image.width + slack || y! + h! > image.height + slack)) problems.push(`annotation ${a.id}: bbox ${JSON.stringify(a.bbox)} leaves its ${image.width}×${image.height} image`);
    if (!(typeof a.area === 'number' && a.area > 0 && a.area <= w! * h! * (1 + 1e-9))) problems.push(`annotation ${a.id}: area ${a.area} does not fit its box`);
    if (a.iscrowd !== 0 && a.iscrowd !== 1) problems.push(`annotation ${a.id}: iscrowd is ${a.iscrowd}`);
    for (const poly of a.segmentation) if (poly.length < 6 || poly.length % 2 !== 0) problems.push(`annotation ${a.id}: a polygon of ${poly.length} numbers`);
  }
  return problems;
}
