/**
 * Every sync run rewrites the links of the records it carried (their new bases). On PostgreSQL a row
 * updated where its page has room is rewritten in place (a heap-only tuple): none of the link table's
 * four indexes is touched, and they do not grow with every run. Pages filled to half leave that room.
 * Existing pages keep their fill until they are rewritten (VACUUM FULL); new ones get it at once.
 */
import type { Knex } from 'knex';

const FILL = 50;

export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  await knex.raw(`ALTER TABLE sluice_sync_links SET (fillfactor = ${FILL})`);
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'pg') return;
  await knex.raw('ALTER TABLE sluice_sync_links RESET (fillfactor)');
}
