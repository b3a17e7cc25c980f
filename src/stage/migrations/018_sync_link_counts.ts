/**
 * Each sync pipeline's link counts, kept by the commits that write links (in their transactions): a run
 * asks them before looking for deletes and again for its summary, and counting a pipeline's links
 * read every one of them — a million links' bases for a run that carried ten changes.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sluice_sync_link_counts', (t) => {
    t.text('pipeline').primary();
    t.bigInteger('linked').notNullable().defaultTo(0).comment("links in state 'linked'");
    t.bigInteger('a').notNullable().defaultTo(0).comment('of them, those with a key on side a');
    t.bigInteger('b').notNullable().defaultTo(0).comment('of them, those with a key on side b');
  });
  await knex.raw(
    `INSERT INTO sluice_sync_link_counts (pipeline, linked, a, b)
     SELECT pipeline, count(*), count(a_key), count(b_key) FROM sluice_sync_links WHERE state = 'linked' GROUP BY pipeline`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sluice_sync_link_counts');
}
