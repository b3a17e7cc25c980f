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

/**
 * Lines of `data \x02 key \x02 run \x02 refinedBy` (the last three already JSON literals) turned into
 * the data with `_sluice` added as its last member, as bytes: how the PostgreSQL store adds lineage to
 * what COPY streams out, at the cost of a few buffer copies per line. `chunk` holds whole lines only.
 */
export function spliceLineageLines(chunk: Buffer, source: string): Buffer {
  const head = Buffer.from(`"${LINEAGE_FIELD}":{"source":${JSON.stringify(source)},"key":`);
  // first the positions of each line's pieces and the output's size, then one buffer filled by copies:
  // no per-line objects for the garbage collector
  const at: number[] = [];
  let size = 0;
  for (let from = 0; from < chunk.length; ) {
    const end = chunk.indexOf(0x0a, from);
    if (end === -1) throw new Error('spliceLineageLines: the chunk ends inside a line');
    const d1 = chunk.indexOf(SEP, from);
    const d2 = chunk.indexOf(SEP, d1 + 1);
    const d3 = chunk.indexOf(SEP, d2 + 1);
    const close = chunk.lastIndexOf(0x7d /* } */, d1);
    at.push(from, close, d1, d2, d3, end);
    const comma = close === from + 1 ? 0 : 1; // `{}`: staged JSON is compact
    size += close - from + comma + head.length + (d2 - d1 - 1) + RUN.length + (d3 - d2 - 1) + REFINED_BY.length + (end - d3 - 1) + TAIL.length;
    from = end + 1;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const put = (b: Buffer, start = 0, stop = b.length) => (pos += b.copy(out, pos, start, stop));
  for (let i = 0; i < at.length; i += 6) {
    const [from, close, d1, d2, d3, end] = at.slice(i, i + 6) as [number, number, number, number, number, number];
    put(chunk, from, close);
    if (close !== from + 1) put(COMMA);
    put(head);
    put(chunk, d1 + 1, d2);
    put(RUN);
    put(chunk, d2 + 1, d3);
    put(REFINED_BY);
    put(chunk, d3 + 1, end);
    put(TAIL);
  }
  return out;
}

const COMMA = Buffer.from(',');
const RUN = Buffer.from(',"run":');
const REFINED_BY = Buffer.from(',"refinedBy":');
const TAIL = Buffer.from('}}\n');
