import { loadPipeline } from '../../run/pipeline';
import { checkSyncModules } from '../../run/sync';
import { say } from '../format';

/** Checks a pipeline file (YAML, schema, `${VAR}`s) without connecting to anything. */
export async function validateCommand(file: string, flags: { json?: boolean }): Promise<void> {
  const p = loadPipeline(file);
  if (p.sync) checkSyncModules(p, file);
  const summary = {
    file,
    valid: true,
    pipeline: p.name,
    sources: p.sources.map((s) => s.name),
    exports: p.export.map((e) => `${e.format} → ${e.path}`),
    ...(p.sync ? { sync: { a: p.sync.a.name, b: p.sync.b.name, fields: p.sync.fields.length } } : {}),
  };
  process.stdout.write(
    flags.json
      ? `${JSON.stringify(summary, null, 2)}\n`
      : p.sync
        ? `${say('cli.validate.valid_sync', { file, pipeline: p.name, a: p.sync.a.name, b: p.sync.b.name, fields: p.sync.fields.length })}\n`
        : `${say('cli.validate.valid', { file, pipeline: p.name, sources: p.sources.length, exports: p.export.length })}\n`,
  );
}
