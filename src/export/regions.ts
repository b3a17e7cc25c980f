/**
 * Image regions from Label Studio results (label-studio.md §6, §8), in pixels: what the COCO exporter
 * (and any other detection format) writes. A rectangle's x/y/width/height are percent of the result's
 * `original_width`/`original_height`; a rotated rectangle (rotation in degrees about its top-left
 * corner) keeps its four corners as a polygon and gets the axis-aligned box around them; a polygon's
 * points are percent pairs. Keypoints and non-image results are not regions.
 */

export interface Region {
  /** the result's region id (shared by the results of one region across control tags) */
  id: string;
  label: string;
  /** [x, y, w, h] in pixels, top-left origin */
  bbox: [number, number, number, number];
  /** the outline as a flat `[x1, y1, x2, y2, ...]` list in pixels: a polygon's points, or a box's four corners */
  outline: number[];
  area: number;
  /** whether the outline is a drawn polygon (rather than a box's corners) */
  polygon: boolean;
}

export interface ImageRegions {
  width: number | null;
  height: number | null;
  regions: Region[];
  /** results that are not regions this model knows (keypoints, choices, ...), counted */
  skipped: number;
}

interface Result {
  id?: string;
  type?: string;
  value?: Record<string, unknown>;
  original_width?: number;
  original_height?: number;
}

/**
 * The regions of one annotation's `result` list. Labels come from the result's `*labels` value, or from
 * a sibling `labels` result with the same id for geometry-only tools (`rectangle` + `labels`).
 */
export function regionsOf(results: readonly unknown[]): ImageRegions {
  const list = results.filter((r): r is Result => r !== null && typeof r === 'object') as Result[];
  const siblingLabels = new Map<string, string>();
  for (const r of list) {
    const labels = r.type === 'labels' ? r.value?.labels : undefined;
    if (r.id && Array.isArray(labels) && typeof labels[0] === 'string') siblingLabels.set(r.id, labels[0]);
  }
  let width: number | null = null;
  let height: number | null = null;
  const regions: Region[] = [];
  let skipped = 0;
  for (const r of list) {
    const v = r.value ?? {};
    const W = r.original_width;
    const H = r.original_height;
    if (width === null && typeof W === 'number' && typeof H === 'number') [width, height] = [W, H];
    const label = firstLabel(v[`${r.type}`]) ?? (r.id ? siblingLabels.get(r.id) : undefined);
    const isBox = (r.type === 'rectanglelabels' || r.type === 'rectangle') && ['x', 'y', 'width', 'height'].every((k) => typeof v[k] === 'number');
    const isPolygon = (r.type === 'polygonlabels' || r.type === 'polygon') && Array.isArray(v.points);
    if (r.type === 'labels' && r.id && list.some((o) => o !== r && o.id === r.id)) continue; // a sibling's label, used above
    if (!(isBox || isPolygon) || label === undefined || typeof W !== 'number' || typeof H !== 'number') {
      skipped++;
      continue;
    }
    regions.push(isBox ? box(r.id ?? '', label, v as unknown as BoxValue, W, H) : polygon(r.id ?? '', label, v.points as number[][], W, H));
  }
  return { width, height, regions, skipped };
}

interface BoxValue {
  x: number;
  y: number;
  width: number;
  height: number;
  rotation?: number;
}

function box(id: string, label: string, v: BoxValue, W: number, H: number): Region {
  const [x, y, w, h] = [(v.x / 100) * W, (v.y / 100) * H, (v.width / 100) * W, (v.height / 100) * H];
  const rotation = v.rotation ?? 0;
  if (rotation === 0) {
    return { id, label, bbox: [x, y, w, h], outline: [x, y, x + w, y, x + w, y + h, x, y + h], area: w * h, polygon: false };
  }
  const t = (rotation * Math.PI) / 180;
  const [c, s] = [Math.cos(t), Math.sin(t)];
  const corners = [
    [x, y],
    [x + w * c, y + w * s],
    [x + w * c - h * s, y + w * s + h * c],
    [x - h * s, y + h * c],
  ];
  return { id, label, ...enclosing(corners), outline: corners.flat(), area: w * h, polygon: false };
}

function polygon(id: string, label: string, points: number[][], W: number, H: number): Region {
  const px = points.map(([x, y]) => [((x ?? 0) / 100) * W, ((y ?? 0) / 100) * H]);
  let twice = 0; // the shoelace formula
  for (let i = 0; i < px.length; i++) {
    const [x1, y1] = px[i]!;
    const [x2, y2] = px[(i + 1) % px.length]!;
    twice += x1! * y2! - x2! * y1!;
  }
  return { id, label, ...enclosing(px), outline: px.flat(), area: Math.abs(twice) / 2, polygon: true };
}

function enclosing(points: number[][]): { bbox: [number, number, number, number] } {
  const xs = points.map((p) => p[0]!);
  const ys = points.map((p) => p[1]!);
  const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
  return { bbox: [x0, y0, Math.max(...xs) - x0, Math.max(...ys) - y0] };
}

function firstLabel(v: unknown): string | undefined {
  return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}
