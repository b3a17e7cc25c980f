/**
 * JSON Lines: one record per line, UTF-8, `\n` line ends. The bytes come straight from the store (with
 * the `_sluice` lineage member spliced in there), so this format costs no parsing at all.
 */
import { z } from 'zod';
import { defineExporter, writeLines } from '../src/export/exporter';
import { schemaFor } from '../src/export/schema';

export const jsonlExporter = defineExporter({
  format: 'jsonl',
  description: 'JSON Lines: one JSON object per line, each the exported record.',
  options: z.strictObject({
    lineage: z.boolean().default(true).describe('Add `_sluice: { source, key, run, refinedBy }` to each record.'),
  }),
  create: (options) => ({
    // the lines pass through Node as bytes (lineage spliced in on PostgreSQL): a second tenant at once
    // keeps the database and Node both busy, without piling up buffers
    tenantsAtOnce: 2,
    async write(target, input) {
      const out = target.open('jsonl');
      const schema = schemaFor(target, options.lineage);
      return [await writeLines(out, input.jsonLines({ lineage: options.lineage }), { format: 'jsonl', source: target.source }, schema)];
    },
  }),
});
