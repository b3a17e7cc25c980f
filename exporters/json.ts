/**
 * JSON: one array of records, written element by element as the lines come from the store — never
 * built in memory, so it is valid JSON at any size. Pretty enough to diff (one record per line).
 */
import { z } from 'zod';
import { defineExporter } from '../src/export/exporter';
import { schemaFor } from '../src/export/schema';

const FIRST = Buffer.from('\n');
const NEXT = Buffer.from(',\n');

export const jsonExporter = defineExporter({
  format: 'json',
  description: 'One JSON array of records, streamed (one record per line inside the brackets).',
  options: z.strictObject({
    lineage: z.boolean().default(true).describe('Add `_sluice: { source, key, run, refinedBy }` to each record.'),
  }),
  create: (options) => ({
    async write(target, input) {
      const out = target.open('json');
      let rows = 0;
      const schema = schemaFor(target, options.lineage);
      try {
        await out.write('[');
        // chunks need not end on a line end: a record starts after each `\n` seen, and is preceded by
        // `,\n` (or `\n` for the first); the lines' own `\n`s are dropped
        let atStart = true;
        for await (const chunk of input.jsonLines({ lineage: options.lineage })) {
          schema.observeChunk(chunk);
          const parts: Buffer[] = [];
          let from = 0;
          while (from < chunk.length) {
            const nl = chunk.indexOf(0x0a, from);
            const end = nl === -1 ? chunk.length : nl;
            if (end > from) {
              if (atStart) parts.push(rows === 0 ? FIRST : NEXT);
              parts.push(chunk.subarray(from, end));
              atStart = false;
            }
            if (nl === -1) break;
            rows++;
            atStart = true;
            from = nl + 1;
          }
          await out.write(Buffer.concat(parts));
        }
        await out.write(rows === 0 ? ']\n' : '\n]\n');
      } catch (err) {
        out.destroy();
        throw err;
      }
      return [{ path: out.name, format: 'json', source: target.source, rows, ...(await out.close()), schema: schema.schema() }];
    },
  }),
});
