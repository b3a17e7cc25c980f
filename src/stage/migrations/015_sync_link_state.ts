/**
 * Every sync run asks for the links whose create did not finish (nearly always none): an index on the
 * state finds none without reading the pipeline's links.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_sync_links', (t) => {
    t.index(['pipeline', 'state'], 'sluice_sync_links_state');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_sync_links', (t) => {
    t.dropIndex(['pipeline', 'state'], 'sluice_sync_links_state');
  });
}
