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
import { join } from 'node:path';
import { z } from 'zod';
import type { Field, StagedRecord } from '../core/record';

export interface ExportTarget {
  /** The folder to write into (temporary until published). */
  dir: string;
  source: string;
  /** The fields the source described, for formats that declare a schema. */
  fields: Field[];
}

export interface ExportInput {
  /** The records, a page at a time, in change order. Each call reads them again from the store. */
  records(): AsyncIterable<StagedRecord[]>;
  /** The same records' data as JSON Lines bytes, without building objects. */
  jsonLines(): AsyncIterable<Buffer>;
}

/** A column of a tabular file, as declared in the manifest. */
export interface Column {
  name: string;
  type: string;
  /** `plain`: the cell is the value; `json`: the cell is the value as JSON text. */
  encoding: 'plain' | 'json';
  nullable: boolean;
}

export interface ExportedFile {
  /** The file's name within the export folder. */
  path: string;
  format: string;
  source: string;
  rows: number;
  bytes: number;
  sha256: string;
  columns?: Column[];
}

export interface Exporter {
  /** Writes the target's file(s) and says what it wrote. */
  write(target: ExportTarget, input: ExportInput): Promise<ExportedFile[]>;
}

export interface ExporterDefinition<S extends z.ZodObject = z.ZodObject> {
  format: string;
  description: string;
  /** The format's own options in an `export:` entry, beside `format` and `path`. */
  options: S;
  create(options: z.output<S>): Exporter;
}

export function defineExporter<S extends z.ZodObject>(def: ExporterDefinition<S>): ExporterDefinition<S> {
  return def;
}

/**
 * A file being written, counting its bytes and hashing them on the way, with backpressure.
 * `close()` flushes it to disk and returns the count and the sha256.
 */
export class OutputFile {
  private readonly stream: WriteStream;
  private readonly hash = createHash('sha256');
  private bytes = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'wx', flush: true });
  }

  static in(dir: string, name: string): OutputFile {
    return new OutputFile(join(dir, name));
  }

  async write(chunk: Buffer | string): Promise<void> {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.hash.update(buf);
    this.bytes += buf.length;
    if (!this.stream.write(buf)) await once(this.stream, 'drain');
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.stream.end();
    await once(this.stream, 'close');
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Closes and discards (on a failure); never throws. */
  destroy(): void {
    this.stream.destroy();
  }
}
