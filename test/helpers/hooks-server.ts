/**
 * `sluice serve` for one pushed source (`hooks/events`, GitHub-signed with `s3cret`, keyed by `$.id`,
 * tenant `$.org`) on a real socket, in `dir`: for tests of what the server exposes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline } from '../../src/run/pipeline';
import { Service } from '../../src/run/serve';
import { buildServer } from '../../src/server/app';

export const HOOKS_SECRET = 's3cret';

export async function serveHooks(dir: string): Promise<{ base: string; service: Service; close(): Promise<void> }> {
  writeFileSync(
    join(dir, 'hooks.yaml'),
    `name: hooks
sources:
  - name: events
    push: { verify: github, secret: ${HOOKS_SECRET}, key: $.id, tenant: $.org }
staging: sqlite:${join(dir, 'hooks.db')}
`,
  );
  const service = await Service.open([loadPipeline(join(dir, 'hooks.yaml'), {})]);
  const app = buildServer(service);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    service,
    close: async () => {
      await app.close();
      await service.close();
    },
  };
}
