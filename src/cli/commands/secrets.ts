import { SecretBox } from '../../core/secret-box';
import { rotateConnections } from '../../run/connections';
import { withExistingStore } from '../../run/existing-store';
import { loadPipeline } from '../../run/pipeline';
import { say } from '../format';

/** `sluice secrets rotate FILE`: seals every stored credential again with the current key (the first in SLUICE_SECRET_KEY). */
export async function secretsRotate(file: string, flags: { staging?: string; json?: boolean }): Promise<void> {
  const box = SecretBox.fromEnv(process.env.SLUICE_SECRET_KEY);
  const n = await withExistingStore(loadPipeline(file), { stagingUrl: flags.staging }, false, (store) => rotateConnections(store, box, 'cli'));
  process.stdout.write(flags.json ? `${JSON.stringify({ resealed: n, key: box.currentId })}\n` : `${say('cli.secrets.resealed', { count: n, key: box.currentId })}\n`);
}
