/**
 * The tables the refine steps keep in the store: Label Studio tasks per record version, the LLM answer
 * cache, and LLM usage per run and tenant. Plain functions over knex, so both stores share them.
 */
import type { Knex } from 'knex';
import type { LlmUsageRow } from '../store';

export async function labelStudioTasks(
  knex: Knex,
  pipeline: string,
  source: string,
  versions: readonly { key: string; version: string }[],
): Promise<Map<string, { projectId: number; taskId: number }>> {
  const out = new Map<string, { projectId: number; taskId: number }>();
  for (let i = 0; i < versions.length; i += 500) {
    const chunk = versions.slice(i, i + 500);
    const rows = await knex('sluice_ls_tasks')
      .where({ pipeline, source })
      .whereIn(['key', 'version'], chunk.map((v) => [v.key, v.version]))
      .select('key', 'project_id', 'task_id');
    for (const r of rows) out.set(r.key, { projectId: Number(r.project_id), taskId: Number(r.task_id) });
  }
  return out;
}

export async function saveLabelStudioTasks(
  knex: Knex,
  pipeline: string,
  source: string,
  rows: readonly { key: string; version: string; projectId: number; taskId: number }[],
): Promise<void> {
  if (rows.length === 0) return;
  const now = new Date().toISOString();
  await knex.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await tx('sluice_ls_tasks')
        .insert(chunk.map((r) => ({ pipeline, source, key: r.key, version: r.version, project_id: r.projectId, task_id: r.taskId, created_at: now })))
        .onConflict(['pipeline', 'source', 'key', 'version'])
        .ignore();
      await tx('sluice_ls_imports')
        .where({ pipeline, source })
        .whereIn(['key', 'version'], chunk.map((r) => [r.key, r.version]))
        .delete();
    }
  });
}

export async function startLabelStudioImports(
  knex: Knex,
  pipeline: string,
  source: string,
  rows: readonly { key: string; version: string; projectId: number }[],
): Promise<void> {
  const now = new Date().toISOString();
  for (let i = 0; i < rows.length; i += 500) {
    await knex('sluice_ls_imports')
      .insert(rows.slice(i, i + 500).map((r) => ({ pipeline, source, key: r.key, version: r.version, project_id: r.projectId, started_at: now })))
      .onConflict(['pipeline', 'source', 'key', 'version'])
      .ignore();
  }
}

export async function unfinishedLabelStudioImports(knex: Knex, pipeline: string, source: string): Promise<{ key: string; version: string; projectId: number }[]> {
  const rows = await knex('sluice_ls_imports').where({ pipeline, source }).select('key', 'version', 'project_id');
  return rows.map((r) => ({ key: r.key, version: r.version, projectId: Number(r.project_id) }));
}

export async function forgetLabelStudioImports(knex: Knex, pipeline: string, source: string, projectId: number): Promise<void> {
  await knex('sluice_ls_imports').where({ pipeline, source, project_id: projectId }).delete();
}

export async function llmAnswer(knex: Knex, key: string): Promise<string | undefined> {
  const row = await knex('sluice_llm_cache').where({ key }).first('answer');
  return row?.answer;
}

export async function saveLlmAnswer(knex: Knex, key: string, answer: string): Promise<void> {
  await knex('sluice_llm_cache').insert({ key, answer, created_at: new Date().toISOString() }).onConflict('key').ignore();
}

export async function recordLlmUsage(knex: Knex, run: string, pipeline: string, rows: readonly LlmUsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await knex('sluice_llm_usage').insert(
    rows.map((r) => ({
      run_id: run,
      pipeline,
      tenant: r.tenant,
      model: r.model,
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      calls: r.calls,
      cached: r.cached,
      cost: r.cost,
    })),
  );
}

export async function llmUsage(knex: Knex, pipeline: string): Promise<LlmUsageRow[]> {
  const rows = await knex('sluice_llm_usage')
    .where({ pipeline })
    .groupBy('tenant', 'model')
    .orderBy(['tenant', 'model'])
    .select('tenant', 'model')
    .sum({ prompt: 'prompt_tokens', completion: 'completion_tokens', calls: 'calls', cached: 'cached', cost: 'cost' });
  return (rows as unknown as Record<string, string | number | null>[]).map((r) => ({
    tenant: String(r.tenant),
    model: String(r.model),
    promptTokens: Number(r.prompt),
    completionTokens: Number(r.completion),
    calls: Number(r.calls),
    cached: Number(r.cached),
    cost: r.cost === null ? null : Number(r.cost),
  }));
}
