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
