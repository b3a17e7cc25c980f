/**
 * An Exporter writes one tenant's records of one source into a file format inside an export folder.
 * The export runner gives it the folder (a temporary one that is renamed into place when every file
 * and the manifest are written, so a dataset is whole or absent) and the records, which it may read
 * as objects or, for formats that are JSON text, as JSON Lines bytes. See `exporters/jsonl.ts` and
 * `exporters/csv.ts` as examples; a new format is one new file in `exporters/`.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, join } from 'node:path';
import { createGzip, type Gzip } from 'node:zlib';
import { z } from 'zod';
import type { Field, StagedRecord } from '../core/record';
import type { DeclaredSchema, InferredField, SchemaObserver } from './schema';

export interface ExportTarget {
  /** The folder to write into (temporary until published). */
  dir: string;
  source: string;
  /** The split these records belong to (`train`, `val`, ...), when the export is split. */
  split?: string;
  /** The fields the source described, for formats that declare a schema. */
  fields: Field[];
  /** The records need not be the source's rows as described (they were refined): infer their schema. */
  inferSchema?: boolean;
  /**
   * Opens this target's file with the given extension: `<source>[.<split>].<ext>[.gz]`, compressed as
   * the export entry says. Exporters write through it, so compression and naming are the same for all.
   */
  open(ext: string): OutputFile;
}

export interface ExportInput {
  /** The records, a page at a time, in change order. Each call reads them again from the store. */
  records(): AsyncIterable<StagedRecord[]>;
  /**
   * The same records' data as JSON Lines bytes, without building objects. With `lineage`, each line
   * also carries `"_sluice": { source, key, run, refinedBy }`.
   */
  jsonLines(o?: { lineage?: boolean }): AsyncIterable<Buffer>;
}

/** A column of a tabular file, as declared in the manifest. */
export interface Column {
  name: string;
  type: string;
  /**
   * `plain`: the cell is the value; `json`: the cell is the value as JSON text; `delimited`: an array of
   * `items`-typed values joined by `separator` (an empty cell is an empty array, NULL is NULL).
   */
  encoding: 'plain' | 'json' | 'delimited';
  separator?: string;
  items?: string;
  nullable: boolean;
}

export interface ExportedFile {
  /** The file's name within the export folder. */
  path: string;
  format: string;
  source: string;
  rows: number;
  /** the file's size on disk (compressed, when it is) */
  bytes: number;
  /** sha256 of the file as it is on disk */
  sha256: string;
  /** `gzip` when the file is compressed; `rawBytes` is then its size uncompressed */
  compression?: 'gzip';
  rawBytes?: number;
  split?: string;
  /**
   * Not the records themselves: `deleted`, the keys of records that left the tenant since the previous
   * export; `labels`, one image's file in a per-image format (YOLO, VOC); `classes`, the category names.
   */
  role?: 'deleted' | 'labels' | 'classes';
  columns?: Column[];
  /**
   * Records the format could not hold (an image without a size...), left out with the reason. The
   * runner quarantines them (`seq` is the staged version that was rejected).
   */
  rejected?: { key: string; seq: number; reason: string }[];
  /** Format-specific counts, e.g. COCO's `annotations`. */
  counts?: Record<string, number>;
  /** The records' top-level fields as written (JSON formats and CSV). */
  schema?: InferredField[];
}

export interface Exporter {
  /** Writes the target's file(s) and says what it wrote. */
  write(target: ExportTarget, input: ExportInput): Promise<ExportedFile[]>;
  /**
   * How many tenants to write at once (default 1). More helps only where Node does little per record
   * (CSV and JSONL on PostgreSQL: the database writes the rows): where Node parses or builds each
   * record, it is the bottleneck, and a second stream at once only piles up buffers.
   */
  readonly tenantsAtOnce?: number;
}

export interface ExporterDefinition<S extends z.ZodObject = z.ZodObject> {
  format: string;
  description: string;
  /** The format's own options in an `export:` entry, beside `format` and `path`. */
  options: S;
  /** False for formats whose files the tools read as plain files (YOLO labels, VOC XML): `compress:` is refused. */
  compressible?: boolean;
  create(options: z.output<S>): Exporter;
}

export function defineExporter<S extends z.ZodObject>(def: ExporterDefinition<S>): ExporterDefinition<S> {
  return def;
}

/**
 * A file being written, counting its bytes and hashing them on the way, with backpressure, optionally
 * gzip-compressed through node:zlib. `close()` flushes it to disk and says its size (raw and on disk)
 * and the sha256 of what is on disk.
 */
export class OutputFile {
  /** the file's name inside its folder */
  readonly name: string;
  private readonly file: WriteStream;
  private readonly gzip?: Gzip;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private rawBytes = 0;

  constructor(
    readonly path: string,
    readonly compression?: 'gzip',
  ) {
    this.name = basename(path);
    this.file = createWriteStream(path, { flags: 'wx', flush: true });
    if (compression === 'gzip') {
      this.gzip = createGzip();
      this.gzip.on('data', (chunk: Buffer) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        if (!this.file.write(chunk)) {
          this.gzip!.pause();
          this.file.once('drain', () => this.gzip!.resume());
        }
      });
      this.gzip.on('error', (err) => this.file.destroy(err));
    }
  }

  static in(dir: string, name: string, compression?: 'gzip'): OutputFile {
    return new OutputFile(join(dir, compression === 'gzip' ? `${name}.gz` : name), compression);
  }

  async write(chunk: Buffer | string): Promise<void> {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.rawBytes += buf.length;
    if (this.gzip) {
      if (!this.gzip.write(buf)) await once(this.gzip, 'drain');
      return;
    }
    this.hash.update(buf);
    this.bytes += buf.length;
    if (!this.file.write(buf)) await once(this.file, 'drain');
  }

  async close(): Promise<{ bytes: number; sha256: string; compression?: 'gzip'; rawBytes?: number }> {
    if (this.gzip) {
      this.gzip.end();
      await once(this.gzip, 'end');
    }
    this.file.end();
    await once(this.file, 'close');
    const sha256 = this.hash.digest('hex');
    return this.gzip ? { bytes: this.bytes, sha256, compression: 'gzip', rawBytes: this.rawBytes } : { bytes: this.bytes, sha256 };
  }

  /** Closes and discards (on a failure); never throws. */
  destroy(): void {
    this.gzip?.destroy();
    this.file.destroy();
  }
}

/** Writes JSON Lines chunks to `out`, counting the lines and inferring their schema, and closes it. */
export async function writeLines(
  out: OutputFile,
  chunks: AsyncIterable<Buffer>,
  what: { format: string; source: string },
  schema: SchemaObserver | DeclaredSchema,
): Promise<ExportedFile> {
  let rows = 0;
  try {
    for await (const chunk of chunks) {
      rows += countLines(chunk);
      schema.observeChunk(chunk);
      await out.write(chunk);
    }
  } catch (err) {
    out.destroy();
    throw err;
  }
  return { path: out.name, ...what, rows, ...(await out.close()), schema: schema.schema() };
}

export function countLines(chunk: Buffer): number {
  let n = 0;
  for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, nl + 1)) n++;
  return n;
}
