import { pipelineJsonSchema } from '../../run/pipeline';

/** Prints the JSON Schema of pipeline files (for editors: `# yaml-language-server: $schema=...`). */
export async function schemaCommand(): Promise<void> {
  process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
}
