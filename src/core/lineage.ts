/**
 * Lineage: where an exported record came from — its source, key, the run that last staged it, and the
 * refine chain version that made it what it is (`null` when it was not refined). The JSON formats carry
 * it as a `_sluice` member of each record; the manifest maps a chain version to its steps.
 */
import { LineTransform } from './line-transform';

export const LINEAGE_FIELD = '_sluice';

export interface LineageOf {
  source: string;
  key: string;
  run: string;
  refinedBy: string | null;
}

/**
 * `json` (a JSON object's text as staged, ending in `}`) with `"_sluice": {...}` added as its
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
 * record is empty (`{}`, or `{ }` as a pushed body may be). Two copies a line, no per-line objects.
 */
export class LineageSplicer extends LineTransform {
  protected line(chunk: Buffer, from: number, end: number): void {
    const sep = chunk.indexOf(SEP, from);
    if (sep === -1 || sep > end) throw new Error('LineageSplicer: a line without its lineage');
    const close = chunk.lastIndexOf(CLOSE, sep);
    let last = close - 1;
    while (last > from && (chunk[last] === 0x20 || chunk[last] === 0x09)) last--;
    const suffix = last === from ? sep + 2 : sep + 1; // `{}`: no comma before `_sluice`
    this.room(close - from + (end + 1 - suffix));
    this.pos += chunk.copy(this.out, this.pos, from, close);
    this.pos += chunk.copy(this.out, this.pos, suffix, end);
    this.out[this.pos++] = NEWLINE;
  }
}
