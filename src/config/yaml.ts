/**
 * YAML with positions: parse a pipeline file into a document that remembers where every value came
 * from, so any later error (schema, environment variable) can name `file:line:column`.
 */
import { Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node } from 'yaml';
import { msg } from '../core/i18n';
import { ConfigErrors, SluiceError } from '../core/errors';

export type Path = readonly (string | number)[];

export interface SourceDocument {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

export interface Position {
  line: number;
  column: number;
}

export function parseYaml(text: string, file: string): SourceDocument {
  const lines = new LineCounter();
  const doc = parseDocument(maskReferences(text), { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  unmaskReferences(doc);
  if (doc.errors.length > 0) {
    throw new ConfigErrors(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return new SluiceError('SLUICE_CONFIG_YAML', msg('err.config.yaml.1', { file, line: pos.line, col: pos.col, what }), {
          file,
          line: pos.line,
          column: pos.col,
        });
      }),
    );
  }
  return { file, doc, lines };
}

/*
 * `${VAR}` must work inside flow collections too (`auth: { bearer: ${TOKEN} }`), where YAML reads its
 * braces and commas as structure. So before parsing, those characters inside a reference are swapped for
 * private-use characters of the same length (positions stay exact), and swapped back in every scalar after.
 */
const FLOW_CHARS = '{},[]';
const MASKED = '\uE000\uE001\uE002\uE003\uE004';
const maskChar = (c: string) => MASKED[FLOW_CHARS.indexOf(c)] ?? c;
const unmaskChar = (c: string) => FLOW_CHARS[MASKED.indexOf(c)] ?? c;

function maskReferences(text: string): string {
  return text.replace(/\$\{[^}\n]*\}/g, (ref) => ref.replace(/[{},[\]]/g, maskChar));
}

function unmaskReferences(doc: Document.Parsed): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /[\uE000-\uE004]/.test(node.value)) node.value = node.value.replace(/[\uE000-\uE004]/g, unmaskChar);
    },
  });
}

/** The node at `path`, or the nearest ancestor that exists (for a missing field, its parent object). */
export function nodeAt(src: SourceDocument, path: Path, { keyNode = false } = {}): Node | null {
  let node: unknown = src.doc.contents;
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(step));
      if (!pair) return node as Node;
      const last = i === path.length - 1;
      node = last && keyNode ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof step === 'number' && node.items[step] !== undefined) {
      node = node.items[step];
    } else {
      return (node as Node | null) ?? null;
    }
  }
  return (node as Node | null) ?? null;
}

export function positionOf(src: SourceDocument, path: Path, opts?: { keyNode?: boolean }): Position {
  const node = nodeAt(src, path, opts);
  const offset = node?.range?.[0] ?? 0;
  const pos = src.lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** `sources[0].read.driver` */
export function formatPath(path: Path): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `${i ? '.' : ''}${p}` : `[${JSON.stringify(p)}]`))
    .join('');
}
