import { loadPipeline } from '../../run/pipeline';
import { say } from '../format';

/** Checks a pipeline file (YAML, schema, `${VAR}`s) without connecting to anything. */
export async function validateCommand(file: string, flags: { json?: boolean }): Promise<void> {
  const p = loadPipeline(file);
  const summary = { file, valid: true, pipeline: p.name, sources: p.sources.map((s) => s.name), exports: p.export.map((e) => `${e.format} → ${e.path}`) };
  process.stdout.write(
    flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${say('cli.validate.valid', { file, pipeline: p.name, sources: p.sources.length, exports: p.export.length })}\n`,
  );
}
