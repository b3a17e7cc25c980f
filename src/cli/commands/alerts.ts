import { writeFile } from 'node:fs/promises';
import { SluiceError } from '../../core/errors';
import { msg } from '../../core/i18n';
import { prometheusRules } from '../../observe/alert-rules';
import { loadPipeline } from '../../run/pipeline';
import { say } from '../format';

/** `sluice alerts export FILE [--out PATH]`: the pipeline's alert rules as a Prometheus rules file. */
export async function alertsExport(file: string, flags: { out?: string }): Promise<void> {
  const pipeline = loadPipeline(file);
  if (pipeline.alerts.length === 0) throw new SluiceError('SLUICE_USAGE', msg('err.cli.commands.alerts.1', { file }));
  const rules = prometheusRules(pipeline.name, pipeline.alerts);
  if (flags.out) {
    await writeFile(flags.out, rules);
    process.stderr.write(`${say('cli.alerts.wrote', { count: pipeline.alerts.length, file: flags.out })}\n`);
  } else process.stdout.write(rules);
}
