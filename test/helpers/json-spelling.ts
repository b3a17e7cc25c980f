// JSON text as any writer might have produced it: random spacing between tokens and random (valid)
// escapes in strings, for tests of code that reads JSON text without parsing it.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON text with random spacing and escapes: what any writer might have staged. */
export function spelled(value: Json, pick: () => number, lines = false): string {
  const space = () => [' ', '', '\t', '  ', '\n', '\r\n'][pick() % (lines ? 6 : 4)]!;
  if (typeof value === 'string') {
    let s = '"';
    for (const ch of value) {
      const code = ch.codePointAt(0)!;
      const plain = JSON.stringify(ch).slice(1, -1);
      if (pick() % 4 === 0 && code <= 0xffff) s += `\\u${code.toString(16).padStart(4, '0')}`;
      else if (ch === '/' && pick() % 2 === 0) s += '\\/';
      else s += plain;
    }
    return `${s}"`;
  }
  if (Array.isArray(value)) return `[${space()}${value.map((v) => spelled(v, pick, lines)).join(`${space()},${space()}`)}${space()}]`;
  if (value !== null && typeof value === 'object') {
    return `{${space()}${Object.entries(value).map(([k, v]) => `${spelled(k, pick, lines)}${space()}:${space()}${spelled(v, pick, lines)}`).join(`${space()},`)}${space()}}`;
  }
  return JSON.stringify(value);
}

