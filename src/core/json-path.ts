/**
 * The small path language pipeline files use to point into JSON: `$` (the whole value), `$.a.b`,
 * `$.items[0].id`, `$['odd key']`, or a bare field path `a.b` (read as `$.a.b`). Enough to find records,
 * keys, cursors and tenants in an API response or a webhook body; no filters or wildcards, so a path
 * names exactly one place.
 */

export type JsonPath = readonly (string | number)[];

const STEP = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\])/;

/** Parses a path; throws an Error saying where it stops making sense. */
export function parseJsonPath(text: string): JsonPath {
  let rest = text.trim();
  if (rest === '') throw new Error('empty path');
  if (rest.startsWith('$')) rest = rest.slice(1);
  else if (/^[A-Za-z_]/.test(rest)) rest = `.${rest}`;
  const steps: (string | number)[] = [];
  while (rest.length > 0) {
    const m = STEP.exec(rest);
    if (!m) throw new Error(`cannot read path ${JSON.stringify(text)} at ${JSON.stringify(rest)}: expected .field, [index] or ['field']`);
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push((m[3] ?? m[4]!).replace(/\\(.)/g, '$1'));
    rest = rest.slice(m[0].length);
  }
  return steps;
}

/** The value at `path`, or undefined when any step is missing. */
export function getJsonPath(value: unknown, path: JsonPath): unknown {
  let at = value;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(at)) return undefined;
      at = at[step];
    } else {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, step)) return undefined;
      at = (at as Record<string, unknown>)[step];
    }
  }
  return at;
}

export function formatJsonPath(path: JsonPath): string {
  return `$${path.map((s) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_$][\w$-]*$/.test(s) ? `.${s}` : `['${s.replace(/['\\]/g, '\\$&')}']`)).join('')}`;
}
