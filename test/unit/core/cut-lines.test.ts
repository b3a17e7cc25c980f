// Cutting a COPY stream into batches: whatever the chunk boundaries, each batch holds exactly `size`
// whole lines (the last one fewer), nothing is lost or repeated, and the last line of each is found.
import fc from 'fast-check';
import { cutLines, lastLine } from '../../../src/extract/read/postgres';

async function* chunks(buffers: Buffer[]): AsyncGenerator<Buffer> {
  yield* buffers;
}

test('batches are whole lines, in order, of the requested size, whatever the chunking', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replace(/\n/g, ' ')), { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 9 }),
      async (lines, cuts, size) => {
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
        const split: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          split.push(bytes.subarray(at, at + n));
          at += n;
        }
        const batches = [];
        for await (const b of cutLines(chunks(split), size)) batches.push(b);
        expect(batches.map((b) => b.count)).toEqual(batches.map((_, i) => Math.min(size, lines.length - i * size)));
        expect(Buffer.concat(batches.flatMap((b) => b.data)).equals(bytes)).toBe(true);
        batches.forEach((b, i) => expect(lastLine(b.data)).toBe(lines[Math.min((i + 1) * size, lines.length) - 1]));
      },
    ),
    { numRuns: 200 },
  );
});
