-- About 600 MB on disk of shop-like data: random text and JSON, several tables, indexes, foreign keys.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
DROP TABLE IF EXISTS events, order_lines, orders, customers, alembic_version;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, profile jsonb NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, amount numeric(12, 2) NOT NULL,
                     created_at timestamptz NOT NULL, note text);
CREATE TABLE order_lines (order_id bigint NOT NULL, line int NOT NULL, sku text NOT NULL, qty int NOT NULL, price numeric(10, 2) NOT NULL,
                          PRIMARY KEY (order_id, line));
CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, created_at timestamptz NOT NULL, payload jsonb NOT NULL);
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('bench0001');
INSERT INTO customers
  SELECT i, 'user' || i || '@' || substr(md5(random()::text), 1, 8) || '.example', initcap(substr(md5(random()::text), 1, 6 + i % 9)),
         jsonb_build_object('tier', i % 4, 'newsletter', i % 3 = 0, 'tags', jsonb_build_array(substr(md5(random()::text), 1, 8), substr(md5(random()::text), 1, 5)),
                            'address', jsonb_build_object('street', md5(random()::text), 'zip', (random() * 99999)::int, 'city', substr(md5(random()::text), 1, 10))),
         timestamptz '2020-01-01' + (random() * 2000) * interval '1 day'
  FROM generate_series(1, 400000) i;
INSERT INTO orders
  SELECT i, 1 + (random() * 399999)::int, (ARRAY['new', 'paid', 'shipped', 'returned'])[1 + i % 4], round((random() * 500)::numeric, 2),
         timestamptz '2023-01-01' + i * interval '20 seconds', CASE WHEN i % 3 = 0 THEN NULL ELSE repeat(md5(random()::text) || ' ', 1 + i % 3) END
  FROM generate_series(1, 1200000) i;
INSERT INTO order_lines
  SELECT o, l, 'SKU-' || lpad(((o * 7 + l * 13) % 50000)::text, 6, '0'), 1 + (o + l) % 5, round((random() * 100)::numeric, 2)
  FROM generate_series(1, 1200000) o, generate_series(1, 2) l;
INSERT INTO events
  SELECT i, (ARRAY['view', 'click', 'cart', 'checkout', 'search'])[1 + i % 5], timestamptz '2024-01-01' + i * interval '5 seconds',
         jsonb_build_object('session', md5(random()::text), 'path', '/p/' || (random() * 10000)::int, 'ua', md5(random()::text) || md5(random()::text),
                            'q', CASE WHEN i % 5 = 4 THEN substr(md5(random()::text), 1, 12) END)
  FROM generate_series(1, 700000) i;
CREATE UNIQUE INDEX customers_email ON customers (email);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);
CREATE INDEX order_lines_sku ON order_lines (sku);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_kind ON events (kind);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE customers OWNER TO webstack;
ALTER TABLE orders OWNER TO webstack;
ALTER TABLE order_lines OWNER TO webstack;
ALTER TABLE events OWNER TO webstack;
ALTER TABLE alembic_version OWNER TO webstack;
VACUUM ANALYZE;
CHECKPOINT;
