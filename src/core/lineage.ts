/**
 * Lineage: where an exported record came from — its source, key, the run that last staged it, and the
 * refine chain version that made it what it is (`null` when it was not refined). The JSON formats carry
 * it as a `_sluice` member of each record; the manifest maps a chain version to its steps.
 */
export const LINEAGE_FIELD = '_sluice';

export interface LineageOf {
  source: string;
  key: string;
  run: string;
  refinedBy: string | null;
}

/**
 * `json` (a JSON object's text as staged: compact, ending in `}`) with `"_sluice": {...}` added as its
 * last member, by splicing text rather than parsing and serialising the record again.
 */
export function withLineage(json: string, l: LineageOf): string {
  const member = `"${LINEAGE_FIELD}":${JSON.stringify({ source: l.source, key: l.key, run: l.run, refinedBy: l.refinedBy })}`;
  const end = json.lastIndexOf('}');
  const body = json.slice(1, end).trim();
  return `{${body}${body === '' ? '' : ','}${member}}`;
}

const SEP = 0x02;
const NEWLINE = 0x0a;
const CLOSE = 0x7d; // }

/**
 * The member `_sluice` adds, as the text PostgreSQL builds after each record: `,"_sluice":{...}}`. The
 * key, run and refine version are JSON literals (SQL expressions); `source` is given here.
 */
export function lineageSuffixSql(source: string, key: string, run: string, refinedBy: string): string {
  const head = `,"${LINEAGE_FIELD}":{"source":${JSON.stringify(source)},"key":`;
  return `'${head.replace(/'/g, "''")}' || ${key} || ',"run":' || ${run} || ',"refinedBy":' || ${refinedBy} || '}}'`;
}

/**
 * Lines of `data \x02 suffix` (the suffix from `lineageSuffixSql`) turned into the data with the suffix
 * as its last member, as bytes: the record's closing `}` is dropped, and the suffix's comma too when the
 * record is `{}` (staged JSON is compact). Chunks may cut lines anywhere; the output comes in buffers of
 * about `size` bytes, written by one copy of each piece and no per-line objects.
 */
export class LineageSplicer {
  private out: Buffer;
  private pos = 0;
  private carry: Buffer | undefined;

  constructor(private readonly size = 256 * 1024) {
    this.out = Buffer.allocUnsafe(size);
  }

  /** The output buffers this chunk filled. */
  *push(chunk: Buffer): Generator<Buffer> {
    let from = 0;
    if (this.carry) {
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, end + 1)]);
      this.carry = undefined;
      yield* this.line(line, 0, line.length - 1);
      from = end + 1;
    }
    for (let end = chunk.indexOf(NEWLINE, from); end !== -1; from = end + 1, end = chunk.indexOf(NEWLINE, from)) {
      yield* this.line(chunk, from, end);
    }
    if (from < chunk.length) this.carry = chunk.subarray(from);
  }

  /** What is left; throws if the input ended inside a line. */
  *end(): Generator<Buffer> {
    if (this.carry) throw new Error('LineageSplicer: the input ends inside a line');
    if (this.pos > 0) yield this.out.subarray(0, this.pos);
    this.pos = 0;
  }

  /** The line `chunk[from, end]` (`end` at its line end) into the output. */
  private *line(chunk: Buffer, from: number, end: number): Generator<Buffer> {
    const sep = chunk.indexOf(SEP, from);
    if (sep === -1 || sep > end) throw new Error('LineageSplicer: a line without its lineage');
    const close = chunk.lastIndexOf(CLOSE, sep);
    const suffix = close === from + 1 ? sep + 2 : sep + 1; // `{}`: no comma before `_sluice`
    const length = close - from + (end + 1 - suffix);
    if (this.pos + length > this.out.length) {
      if (this.pos > 0) yield this.out.subarray(0, this.pos);
      this.out = Buffer.allocUnsafe(Math.max(this.size, length));
      this.pos = 0;
    }
    this.pos += chunk.copy(this.out, this.pos, from, close);
    this.pos += chunk.copy(this.out, this.pos, suffix, end + 1);
  }
}
