/**
 * The schema of what an export holds, inferred while it is written: each top-level field, the JSON
 * types its values had, and whether it was ever null or missing. Consumers read it from the manifest
 * instead of scanning the data (a refined dataset's fields need not be the source's columns). Records
 * that are a source's rows as staged are described by the fields the source declared instead: parsing
 * every record only to learn what the catalog already said would cost more than writing it.
 */
import { StringDecoder } from 'node:string_decoder';
import { SluiceError } from '../core/errors';
import { msg } from '../core/i18n';
import { jsonTypeOf } from '../core/json-text';
import { LINEAGE_FIELD } from '../core/lineage';

export interface InferredField {
  name: string;
  /** `string`, `integer`, `number`, `boolean`, `array`, `object`; `mixed` for several; `null` if only ever null */
  type: string;
  nullable: boolean;
}

export class SchemaObserver {
  private readonly fields = new Map<string, { types: Set<string>; nulls: boolean; seen: number }>();
  private records = 0;
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  observe(record: Record<string, unknown>): void {
    this.records++;
    for (const name in record) {
      let f = this.fields.get(name);
      if (!f) this.fields.set(name, (f = { types: new Set(), nulls: false, seen: 0 }));
      f.seen++;
      const v = record[name];
      if (v === null || v === undefined) f.nulls = true;
      else f.types.add(jsonTypeOf(v));
    }
  }

  /** Observes the records of JSON Lines bytes, which may end or begin mid-line (or mid-character). */
  observeChunk(chunk: Buffer): void {
    const text = this.rest + this.decoder.write(chunk);
    let from = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; from = nl + 1, nl = text.indexOf('\n', from)) {
      if (nl > from) this.observe(JSON.parse(text.slice(from, nl)) as Record<string, unknown>);
    }
    this.rest = text.slice(from);
  }

  schema(): InferredField[] {
    return [...this.fields].map(([name, f]) => {
      const types = new Set(f.types);
      if (types.has('integer') && types.has('number')) types.delete('integer');
      const [only] = types;
      return { name, type: types.size === 0 ? 'null' : types.size === 1 ? only! : 'mixed', nullable: f.nulls || f.seen < this.records };
    });
  }
}

/** The schema as the source declared it, for records that are known to be its rows (nothing to observe). */
export class DeclaredSchema {
  constructor(private readonly fields: InferredField[]) {}
  observe(): void {}
  observeChunk(): void {}
  schema(): InferredField[] {
    return this.fields;
  }
}

/**
 * What a file's schema comes from: the records themselves (parsing each: refined records, or a source
 * that declares no fields), or — when the records are the source's rows as staged — the fields the
 * source declared, which costs nothing per record. `lineage` adds the `_sluice` member the file carries.
 */
export function schemaFor(target: { source: string; fields: readonly { name: string; type: string; nullable: boolean }[]; inferSchema?: boolean }, lineage: boolean): SchemaObserver | DeclaredSchema {
  // refused before a byte is written: the file would hold the member twice, and a reader keeps only one.
  // Refined records are not the rows as declared (a rule may have renamed the field): each is checked as
  // its lineage is added.
  if (lineage && !target.inferSchema && target.fields.some((f) => f.name === LINEAGE_FIELD)) {
    throw new SluiceError('SLUICE_EXPORT_LINEAGE', msg('err.export.lineage', { source: target.source }), { source: target.source, field: LINEAGE_FIELD });
  }
  if (target.inferSchema || target.fields.length === 0) return new SchemaObserver();
  const fields = target.fields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable }));
  return new DeclaredSchema(lineage ? [...fields, { name: LINEAGE_FIELD, type: 'object', nullable: false }] : fields);
}
