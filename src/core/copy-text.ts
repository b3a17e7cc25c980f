/**
 * PostgreSQL COPY text format (tab-separated, `\N` for NULL, backslash escapes), for the record layout
 * `tenant, key, cursor, json`. The PostgreSQL reader emits it and the PostgreSQL store loads it, so rows
 * can pass from one to the other as bytes; these functions convert when one side wants objects.
 * See https://www.postgresql.org/docs/current/sql-copy.html, "Text Format".
 */
import { SluiceError } from './errors';
import { msg } from './i18n';
import type { SourceRecord } from './record';

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

export function decodeCopyField(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, esc: string) => {
    if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
    return ESCAPES[esc] ?? esc;
  });
}

export function encodeCopyField(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** One COPY line (without its newline) → a record. */
export function decodeCopyRecord(line: string): SourceRecord {
  const fields = line.split('\t');
  if (fields.length !== 4) throw new Error(`COPY row has ${fields.length} fields, expected 4`);
  const [tenant, key, cursor, json] = fields.map(decodeCopyField);
  if (key === null) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.core.copy-text.1'));
  if (tenant === null) throw new SluiceError('SLUICE_SOURCE_NULL_KEY', msg('err.core.copy-text.2', { key }), { key });
  return { tenant, key, cursor: cursor ?? null, json: json ?? null, op: json === null ? 'delete' : 'upsert' };
}

/** A record → one COPY line, newline included. */
export function encodeCopyRecord(r: SourceRecord): string {
  return `${encodeCopyField(r.tenant)}\t${encodeCopyField(r.key)}\t${encodeCopyField(r.cursor)}\t${encodeCopyField(r.json)}\n`;
}

/** A batch's COPY data (whole lines) → records. */
export function decodeCopyLines(data: readonly Buffer[]): SourceRecord[] {
  const text = Buffer.concat(data).toString('utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n').map(decodeCopyRecord);
}
