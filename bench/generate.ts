/**
 * The benchmark's source table, generated inside PostgreSQL with one set-based INSERT over
 * generate_series (no rows travel from Node). Values are pseudo-random but repeatable (setseed).
 */
import type pg from 'pg';

const TENANTS = [
  'acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'tyrell', 'cyberdyne',
  'soylent', 'oscorp', 'aperture', 'vandelay', 'dunder-mifflin', 'pied-piper', 'massive-dynamic', 'blue-sun', 'gringotts', 'monsters-inc',
];

const list = (values: string[]) => `ARRAY[${values.map((v) => `'${v}'`).join(', ')}]`;

/**
 * `orders`: ~20 tenants (skewed: the first ones are bigger), weighted statuses, 1–3 tags, ~200 bytes of
 * nested jsonb, a note with commas, double quotes, a newline, Chinese and an emoji, and an `updated_at`
 * truncated to the hour so that many rows share a value (the keyset cursor must break ties by id).
 */
const INSERT = `
INSERT INTO orders (id, tenant, email, status, amount, tags, attrs, note, created_at, updated_at)
SELECT id, tenant,
       'customer' || customer || '@' || tenant || '.example.com',
       CASE WHEN r < 0.55 THEN 'delivered' WHEN r < 0.75 THEN 'shipped' WHEN r < 0.88 THEN 'paid'
            WHEN r < 0.95 THEN 'pending' WHEN r < 0.98 THEN 'cancelled' ELSE 'refunded' END,
       round((5 + random() * 995)::numeric, 2),
       (${list(['gift', 'express', 'b2b', 'promo', 'fragile', 'repeat', 'vip'])})[t : t + (id % 3)::int],
       jsonb_build_object(
         'customer', jsonb_build_object('id', customer, 'tier', (${list(['free', 'pro', 'enterprise'])})[1 + (customer % 3)::int],
                                        'since', to_char(created_at - interval '400 days', 'YYYY-MM-DD')),
         'shipping', jsonb_build_object('method', (${list(['standard', 'express', 'pickup'])})[1 + (id % 3)::int],
                                        'address', jsonb_build_object('city', (${list(['Lisbon', 'Osaka', 'Toronto', 'Nairobi', 'Berlin', 'Lima'])})[1 + (customer % 6)::int],
                                                                      'postcode', lpad((customer % 99999)::text, 5, '0'))),
         'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (id % 4999), 'qty', 1 + id % 4, 'price', round((random() * 200)::numeric, 2)))),
       format(E'Order #%s for %s, "handle with care", leave at the door\\n配送备注：请轻放 📦', id, tenant),
       created_at,
       date_trunc('hour', created_at) + interval '1 hour' * (1 + floor(random() * 72))
  FROM (SELECT g AS id,
               (${list(TENANTS)})[1 + floor(${TENANTS.length} * random() ^ 1.5)::int] AS tenant,
               1 + (g * 7919) % 50000 AS customer,
               1 + floor(random() * 5)::int AS t,
               random() AS r,
               timestamptz '2023-01-01 00:00:00+00' + (g::float8 / $1) * interval '730 days' + random() * interval '1 hour' AS created_at
          FROM generate_series(1, $1::bigint) AS g) AS s`;

export async function generateOrders(client: pg.Client, rows: number): Promise<void> {
  await client.query(`SELECT setseed(0.42)`);
  await client.query(`
    CREATE TABLE orders (
      id bigint NOT NULL,
      tenant text NOT NULL,
      email text NOT NULL,
      status text NOT NULL,
      amount numeric(12,2) NOT NULL,
      tags text[] NOT NULL,
      attrs jsonb NOT NULL,
      note text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL)`);
  await client.query(INSERT, [rows]);
  // indexes after the load: faster than maintaining them row by row
  await client.query(`ALTER TABLE orders ADD PRIMARY KEY (id)`);
  await client.query(`CREATE INDEX orders_updated_at_id ON orders (updated_at, id)`);
  await client.query(`VACUUM ANALYZE orders`);
}

/** Changes `share` of the rows, picked at random: a new amount and `updated_at = now()`. Returns how many. */
export async function updateSome(client: pg.Client, rows: number, share: number): Promise<number> {
  const r = await client.query(
    `UPDATE orders SET amount = amount + 1.00, updated_at = now()
      WHERE id IN (SELECT id FROM orders ORDER BY random() LIMIT $1)`,
    [Math.max(1, Math.round(rows * share))],
  );
  return r.rowCount ?? 0;
}
