/**
 * The schema of what an export holds, inferred while it is written: each top-level field, the JSON
 * types its values had, and whether it was ever null or missing. Consumers read it from the manifest
 * instead of scanning the data (a refined dataset's fields need not be the source's columns).
 */
import { StringDecoder } from 'node:string_decoder';

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
      else f.types.add(Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);
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
