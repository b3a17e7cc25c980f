/**
 * `${VAR}` in pipeline files: values come from the environment at load time, so secrets stay out of
 * the file. `${VAR:-default}` gives a default; `$${` writes a literal `${`. A variable that is not set
 * (and has no default) is an error naming the file, line and field — never an empty string.
 */
import { isPair, isScalar, isSeq, visit } from 'yaml';
import { msg } from '../core/i18n';
import { ConfigErrors, SluiceError } from '../core/errors';
import { formatPath, type Path, type SourceDocument } from './yaml';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export type Environment = Readonly<Record<string, string | undefined>>;

/** Replaces `${VAR}` references in every string scalar of the document, in place. */
export function interpolateEnv(src: SourceDocument, env: Environment): void {
  const problems: SluiceError[] = [];
  visit(src.doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      node.value = node.value.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
        if (whole === '$${') return '${';
        const value = env[name!];
        if (value !== undefined) return value;
        if (fallback !== undefined) return fallback;
        const pos = src.lines.linePos(node.range?.[0] ?? 0);
        const path = pathOf([...ancestors, node]);
        problems.push(
          new SluiceError('SLUICE_CONFIG_ENV', msg('err.config.env.1', { file: src.file, line: pos.line, col: pos.col, path: formatPath(path), name }),
            { file: src.file, line: pos.line, column: pos.col, hint: `export ${name}=... or write \${${name}:-default}` },
          ),
        );
        return whole;
      });
    },
  });
  if (problems.length > 0) throw new ConfigErrors(problems);
}

/** The field path of a node, from its ancestors and itself (pairs give keys, sequences indexes). */
function pathOf(chain: readonly unknown[]): Path {
  const path: (string | number)[] = [];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    if (isPair(a) && isScalar(a.key)) path.push(String(a.key.value));
    else if (isSeq(a)) path.push(a.items.indexOf(chain[i + 1]));
  }
  return path;
}
