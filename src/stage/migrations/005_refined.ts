/**
 * What the refine chain made of each staged record, kept beside the original (never over it): the
 * refined data, the outcome (refined, filtered, quarantined, failed), its details and provenance, and
 * the chain version that produced it. Each stream remembers how far (in change sequence) and with which
 * chain version its records were refined.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_records', (t) => {
    t.text('refined').nullable().comment('the refined record (JSON); NULL unless the outcome is refined');
    t.text('refine_status').nullable().comment('refined, filtered, quarantined or failed; NULL when not refined');
    t.text('refine_detail').nullable().comment('JSON: failures, error or reason, and provenance (steps, versions, time)');
    t.text('refine_version').nullable().comment('the chain version the outcome came from');
  });
  await knex.schema.alterTable('sluice_streams', (t) => {
    t.bigInteger('refined_through').notNullable().defaultTo(0).comment('every record up to this change sequence has been refined');
    t.text('refine_version').nullable().comment('the chain version of that work');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sluice_records', (t) => {
    t.dropColumns('refined', 'refine_status', 'refine_detail', 'refine_version');
  });
  await knex.schema.alterTable('sluice_streams', (t) => {
    t.dropColumns('refined_through', 'refine_version');
  });
}
