/**
 * JSON Lines: one record's data per line, exactly as staged (UTF-8, `\n` line ends). The bytes come
 * straight from the store, so this format costs no parsing at all.
 */
import { z } from 'zod';
import { OutputFile, defineExporter } from '../src/export/exporter';

export const jsonlExporter = defineExporter({
  format: 'jsonl',
  description: 'JSON Lines: one JSON object per line, each exactly the staged record.',
  options: z.strictObject({}),
  create: () => ({
    async write(target, input) {
      const name = `${target.source}.jsonl`;
      const out = OutputFile.in(target.dir, name);
      let rows = 0;
      try {
        for await (const chunk of input.jsonLines()) {
          for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, nl + 1)) rows++;
          await out.write(chunk);
        }
      } catch (err) {
        out.destroy();
        throw err;
      }
      const { bytes, sha256 } = await out.close();
      return [{ path: name, format: 'jsonl', source: target.source, rows, bytes, sha256 }];
    },
  }),
});
