/** Small helpers for what the commands print: aligned, human-readable tables on stdout, in the CLI's language. */
import { langOf, pickLang, t, type Lang, type MessageCode } from '../core/i18n';

/** The language the CLI prints in: `--lang` (main puts it in SLUICE_CLI_LANG), else SLUICE_LANG, else en-US. */
export function lang(): Lang {
  return pickLang(langOf(process.env.SLUICE_CLI_LANG), langOf(process.env.SLUICE_LANG));
}

/** A message of the catalog in the CLI's language. */
export function say(code: MessageCode, params?: Record<string, string | number>): string {
  return t(lang(), code, params);
}

/** Table headers from the catalog: `cols('source', 'read')` is the headers `cli.col.source`, `cli.col.read`. */
export function cols(...names: ColumnName[]): string[] {
  return names.map((name) => say(`cli.col.${name}`));
}

type ColumnName = MessageCode extends infer C ? (C extends `cli.col.${infer N}` ? N : never) : never;

/**
 * Columns a string takes on a terminal: East Asian wide characters (CJK, fullwidth forms) take two, so
 * zh-CN headers line up. For ASCII and other narrow text this is its length, as before.
 */
function columns(text: string): number {
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0x303e) ||
      (c >= 0x3041 && c <= 0x33ff) ||
      (c >= 0x3400 && c <= 0x4dbf) ||
      (c >= 0x4e00 && c <= 0x9fff) ||
      (c >= 0xa000 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1faff) ||
      (c >= 0x20000 && c <= 0x3fffd);
    n += wide ? 2 : ch.length;
  }
  return n;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => columns(String(r[i] ?? '')))));
  const pad = (text: string, i: number) => ' '.repeat(Math.max(0, widths[i]! - columns(text)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (typeof rows[0]?.[i] === 'number' ? pad(String(c), i) + String(c) : String(c) + pad(String(c), i)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n');
}

export function seconds(ms: number): string {
  return say('cli.unit.seconds', { n: ms < 10_000 ? (ms / 1000).toFixed(2) : (ms / 1000).toFixed(1) });
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
