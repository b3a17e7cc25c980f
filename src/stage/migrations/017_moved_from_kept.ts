/**
 * A record's `moved_from` is no longer cleared after each commit: the tombstone of a record that changed
 * tenant is written from what its upsert returns, in the same statement (on PostgreSQL, the pushed
 * deliveries' one statement could not clear it again). Nothing searches the column any more, so the
 * index that found the rows to clear goes.
 */
import type { Knex } from 'knex';

const MEANING = 'the tenant a record left at its latest write, if that write moved it (its tombstone is written with it)';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS sluice_records_moved');
  if (knex.client.config.client === 'pg') await knex.raw(`COMMENT ON COLUMN sluice_records.moved_from IS '${MEANING}'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS sluice_records_moved ON sluice_records (stream_id) WHERE moved_from IS NOT NULL');
  if (knex.client.config.client === 'pg') await knex.raw(`COMMENT ON COLUMN sluice_records.moved_from IS 'within a commit only: the tenant a record just left'`);
}
