/**
 * Lineage: where an exported record came from — its source, key, the run that last staged it, and the
 * refine chain version that made it what it is (`null` when it was not refined). The JSON formats carry
 * it as a `_sluice` member of each record; the manifest maps a chain version to its steps.
 */
import { SluiceError } from './errors';
import { msg } from './i18n';
import { spanAt } from './json-text';
import { LineTransform } from './line-transform';

export const LINEAGE_FIELD = '_sluice';
/**
 * Only a record whose text holds the name can have a member of its own by it. (Searched for without its
 * quotes: a search for a word that ends in `"` is many times slower through JSON, which is full of them.)
 */
const NAME_BYTES = Buffer.from(LINEAGE_FIELD);
/**
 * JSON text may spell the name with any of its letters escaped (`"\u005fsluice"` is `_sluice` too).
 * Encoders escape only control and non-ASCII characters, so a record holding such an escape of an ASCII
 * letter is rare, and is checked member by member.
 */
const NAME_ESCAPE = /\\u00(?:5f|73|6c|75|69|63|65)/i;
const ESCAPE_BYTES = Buffer.from('\\u00');
const MEMBER_HEAD = Buffer.from(`,"${LINEAGE_FIELD}":`);

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
  if (json.includes(LINEAGE_FIELD) || NAME_ESCAPE.test(json)) refuseOwnLineage(json, l);
  const member = `"${LINEAGE_FIELD}":${JSON.stringify({ source: l.source, key: l.key, run: l.run, refinedBy: l.refinedBy })}`;
  const end = json.lastIndexOf('}');
  const body = json.slice(1, end).trim();
  return `{${body}${body === '' ? '' : ','}${member}}`;
}

/**
 * A record with a `_sluice` member of its own (a pulled or pushed body may have one) is refused: its line
 * would hold the member twice, and a reader keep only one of them, silently.
 */
function refuseOwnLineage(json: string, l: { source: string; key: string }): void {
  if (spanAt(json, [LINEAGE_FIELD]) === undefined) return; // the name is in a value, or deeper down
  throw new SluiceError('SLUICE_EXPORT_LINEAGE', msg('err.export.lineage_record', { source: l.source, key: l.key }), { source: l.source, key: l.key, field: LINEAGE_FIELD });
}

const SEP = 0x02;
const NEWLINE = 0x0a;
const CLOSE = 0x7d; // }

/**
 * The value of the member `_sluice` adds, and the record's closing brace, as the text PostgreSQL builds
 * after each record: `{...}}`. The key, run and refine version are JSON literals (SQL expressions);
 * `source` is given here. The member's name is not in it: a record's own `_sluice` is then the only one
 * a search of the bytes can find.
 */
export function lineageSuffixSql(source: string, key: string, run: string, refinedBy: string): string {
  const head = `{"source":${JSON.stringify(source)},"key":`;
  return `'${head.replace(/'/g, "''")}' || ${key} || ',"run":' || ${run} || ',"refinedBy":' || ${refinedBy} || '}}'`;
}

/**
 * Lines of `data \x02 suffix` (the suffix from `lineageSuffixSql`) turned into the data with `_sluice` as
 * its last member, as bytes: the record's closing `}` is dropped, and the comma before the member too when
 * the record is empty (`{}`, or `{ }` as a pushed body may be). Three copies a line, no per-line objects.
 * A record with its own `_sluice` is refused (see `withLineage`); the name is looked for once a chunk.
 */
export class LineageSplicer extends LineTransform {
  /** Where the name is next in `searched`, from the line at hand on (-1: nowhere). */
  private searched: Buffer | undefined;
  private next = -1;

  override push(chunk: Buffer): Buffer[] {
    this.searched = undefined; // a chunk is searched afresh, even if its buffer is one seen before
    return super.push(chunk);
  }

  protected line(chunk: Buffer, from: number, end: number): void {
    const sep = chunk.indexOf(SEP, from);
    if (sep === -1 || sep > end) throw new Error('LineageSplicer: a line without its lineage');
    if (this.searched !== chunk) {
      this.searched = chunk;
      this.next = nextMention(chunk, from);
    }
    if (this.next !== -1 && this.next < end) {
      const lineage = JSON.parse(chunk.toString('utf8', sep + 1, end - 1)) as { source: string; key: string };
      refuseOwnLineage(chunk.toString('utf8', from, sep), lineage);
      this.next = nextMention(chunk, end);
    }
    const close = chunk.lastIndexOf(CLOSE, sep);
    let last = close - 1;
    while (last > from && (chunk[last] === 0x20 || chunk[last] === 0x09)) last--;
    const head = last === from ? 1 : 0; // `{}`: no comma before `_sluice`
    this.room(close - from + MEMBER_HEAD.length - head + (end - sep));
    this.pos += chunk.copy(this.out, this.pos, from, close);
    // a few bytes: a loop costs less than another native copy
    for (let i = head; i < MEMBER_HEAD.length; i++) this.out[this.pos++] = MEMBER_HEAD[i]!;
    this.pos += chunk.copy(this.out, this.pos, sep + 1, end);
    this.out[this.pos++] = NEWLINE;
  }
}

/** Where in `chunk`, from `from` on, the name may be: as it is, or with a letter escaped (-1: nowhere). */
function nextMention(chunk: Buffer, from: number): number {
  const plain = chunk.indexOf(NAME_BYTES, from);
  for (let at = chunk.indexOf(ESCAPE_BYTES, from); at !== -1 && (plain === -1 || at < plain); at = chunk.indexOf(ESCAPE_BYTES, at + 1)) {
    if (NAME_ESCAPE.test(chunk.toString('latin1', at, at + 6))) return at;
  }
  return plain;
}
