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
  const parts: Buffer[] = [];
  let from = 0;
  while (from < chunk.length) {
    const end = chunk.indexOf(0x0a, from);
    const d1 = chunk.indexOf(SEP, from);
    const d2 = chunk.indexOf(SEP, d1 + 1);
    const d3 = chunk.indexOf(SEP, d2 + 1);
    const close = chunk.lastIndexOf(0x7d /* } */, d1);
    const empty = close === from + 1; // `{}`: staged JSON is compact
    parts.push(chunk.subarray(from, close), empty ? NOTHING : COMMA, head, chunk.subarray(d1 + 1, d2), RUN, chunk.subarray(d2 + 1, d3), REFINED_BY, chunk.subarray(d3 + 1, end), TAIL);
    from = end + 1;
  }
  return Buffer.concat(parts);
}

const NOTHING = Buffer.alloc(0);
const COMMA = Buffer.from(',');
const RUN = Buffer.from(',"run":');
const REFINED_BY = Buffer.from(',"refinedBy":');
const TAIL = Buffer.from('}}\n');
