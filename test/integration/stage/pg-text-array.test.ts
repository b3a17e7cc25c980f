// A text[] parameter sent in PostgreSQL's binary array format reads back in the server as exactly the
// strings sent: any Unicode (quotes, backslashes, braces, commas, emoji), empty strings, NULLs, any length.
import fc from 'fast-check';
import pg from 'pg';
import { textArray } from '../../../src/stage/sql/pg-text-array';
import { describeWith, PG_ADMIN_URL } from '../../helpers/services';

describeWith('postgres', 'text[] parameters in binary', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
  });
  afterAll(() => client?.end());

  const roundTrip = async (values: (string | null)[]) => {
    const r = await client.query<{ a: (string | null)[]; n: number; bytes: string[] | null }>(
      `SELECT $1::text[] AS a, cardinality($1::text[]) AS n, (SELECT array_agg(octet_length(v)::text) FROM unnest($1::text[]) v) AS bytes`,
      [textArray(values)],
    );
    return r.rows[0]!;
  };

  test('any strings and NULLs come back as sent, element for element', async () => {
    // PostgreSQL text cannot hold U+0000; the intake refuses it before a delivery gets here
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000'));
    const tricky = fc.constantFrom('', '"', '\\', '{a,b}', 'NULL', ' spaced ', '中文', '😀', '{"k": "v \\"q\\""}');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(fc.oneof(text, tricky), { nil: null }), { maxLength: 30 }), async (values) => {
        const back = await roundTrip(values);
        expect(back.n).toBe(values.length);
        // a lone surrogate has no UTF-8 form: it travels as U+FFFD, as it would as text
        expect(back.a).toEqual(values.map((v) => (v === null ? null : Buffer.from(v).toString())));
      }),
      { numRuns: 200 },
    );
  });

  test('lengths are bytes of UTF-8, not characters: long and multi-byte elements are whole', async () => {
    const values = ['é'.repeat(5000), '😀'.repeat(3000), 'x'.repeat(100_000)];
    const back = await roundTrip(values);
    expect(back.a).toEqual(values);
    expect(back.bytes).toEqual(values.map((v) => String(Buffer.byteLength(v))));
  });
});
