// The package's public entry: what a user's refine module imports by name resolves to the built library.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

test('require("sluice") gives the library entry points, typed by dist/src/index.d.ts', () => {
  const root = join(__dirname, '../..');
  const out = execFileSync(process.execPath, ['-e', 'const s = require("sluice"); console.log(JSON.stringify(Object.keys(s).sort()), require.resolve("sluice"))'], { cwd: root, encoding: 'utf8' });
  const [keys, resolved] = out.trim().split(' ');
  expect(JSON.parse(keys!)).toEqual(['SluiceError', 'isSluiceError', 'loadPipeline', 'runPipeline']);
  expect(resolved).toBe(join(root, 'dist/src/index.js'));
});
