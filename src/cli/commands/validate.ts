import { loadPipeline } from '../../run/pipeline';

/** Checks a pipeline file (YAML, schema, `${VAR}`s) without connecting to anything. */
export async function validateCommand(file: string, flags: { json?: boolean }): Promise<void> {
  const p = loadPipeline(file);
  const summary = { file, valid: true, pipeline: p.name, sources: p.sources.map((s) => s.name), exports: p.export.map((e) => `${e.format} → ${e.path}`) };
  process.stdout.write(
    flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${file}: valid pipeline ${p.name} (${p.sources.length} source(s), ${p.export.length} export(s))\n`,
  );
}
