/**
 * One small file per image, as YOLO (a labels `.txt`) and Pascal VOC (an annotation `.xml`) keep them,
 * named after the image file: `<folder>/<image name without extension>.<ext>`. Several records of one
 * image (`images: merge`) go into the same file: the format merges the new entries into what is there.
 * Two different images with the same file name cannot both have their file: the later one's record is
 * left out with the reason. Each file is listed in the manifest with its size and sha256.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AnnotatedImage, ImageReader } from './annotated-images';
import { OutputFile, type ExportedFile } from './exporter';

export interface ImageFileFormat {
  /** The file of an image seen for the first time. */
  create(image: AnnotatedImage): string;
  /** The file with another record's regions of the same image added. */
  merge(existing: string, image: AnnotatedImage): string;
}

export class PerImageFiles {
  /** per image reference: its file (relative to the export folder) and entries */
  private readonly files = new Map<string, { path: string; entries: number }>();
  /** per file: the image reference it belongs to */
  private readonly owners = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly folder: string,
    private readonly ext: string,
    private readonly format: ImageFileFormat,
  ) {}

  /** The image's file written (or merged into), or its record rejected when another image holds the name. */
  async add(image: AnnotatedImage, reader: ImageReader): Promise<boolean> {
    const path = `${this.folder}/${imageStem(image.ref)}.${this.ext}`;
    const owner = this.owners.get(path);
    if (owner !== undefined && owner !== image.ref) {
      reader.reject(image.record, `image ${image.ref} has the same file name as ${owner}: ${path} is already written for that one`);
      return false;
    }
    const full = join(this.dir, path);
    const seen = this.files.get(image.ref);
    if (seen) {
      await writeFile(full, this.format.merge(await readFile(full, 'utf8'), image));
      seen.entries += image.regions.length;
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, this.format.create(image), { flag: 'wx' });
      this.files.set(image.ref, { path, entries: image.regions.length });
      this.owners.set(path, image.ref);
    }
    return true;
  }

  /** The images written, in the order first seen. */
  images(): string[] {
    return [...this.files.keys()];
  }

  /** Each file, with its size and sha256, as the manifest lists it. */
  async listed(what: { format: string; source: string }): Promise<ExportedFile[]> {
    const listed: ExportedFile[] = [];
    for (const { path, entries } of this.files.values()) {
      const bytes = await readFile(join(this.dir, path));
      listed.push({ path, format: what.format, source: what.source, rows: entries, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    return listed;
  }
}

/**
 * The image's file name: the last path segment of the reference (a URL's path, decoded, or the path as
 * given), so `/data/upload/1/a1b2-cat.jpg` and `https://cdn.test/x/a1b2-cat.jpg?sig=1` give `a1b2-cat.jpg`.
 */
export function imageFileName(ref: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) ? decoded(new URL(ref).pathname) : ref;
  return path.split(/[\\/]/).filter((s) => s !== '').pop() ?? 'image';
}

/** The image's file name without its extension: what its label or annotation file is named after. */
export function imageStem(ref: string): string {
  const stem = imageFileName(ref).replace(/\.[^.]*$/, '');
  // a name of dots only (`.`, `..`) would climb out of the folder
  return /^\.*$/.test(stem) ? `image${stem.length}` : stem;
}

function decoded(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path; // a stray `%`: the path as it is
  }
}

/** A small text file of lines in the export folder (its own folder made first). */
export async function writeText(dir: string, path: string, lines: readonly string[]): Promise<{ path: string; bytes: number; sha256: string }> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  const out = new OutputFile(join(dir, path));
  try {
    await out.write(lines.map((l) => `${l}\n`).join(''));
  } catch (err) {
    out.destroy();
    throw err;
  }
  return { path, ...(await out.close()) };
}
