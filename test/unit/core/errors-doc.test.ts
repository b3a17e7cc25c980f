// docs/errors.md lists exactly the error codes that exist, each with its kind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../../src/core/errors';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'errors.md'), 'utf8');

test('every error code is documented, and every documented code exists', () => {
  const documented = [...doc.matchAll(/^\| `(SLUICE_[A-Z_]+)` \| (\w+) \|/gm)].map((m) => [m[1], m[2]]);
  expect(documented.map(([code]) => code).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  for (const [code, kind] of documented) expect(kind).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].kind);
});
