-- The sink's tables. Timestamps are stored as fixed-width UTC text
-- ('YYYY-MM-DDTHH:MM:SS.ffffffZ') so that text order is time order, which the
-- upsert's staleness guard relies on; prices are decimal text, never REAL, so
-- they round-trip exactly.

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    site TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    price TEXT,
    currency TEXT,
    price_raw TEXT,
    price_ok INTEGER NOT NULL,
    availability TEXT,
    image TEXT,
    sku TEXT,
    page_url TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    parsed_at TEXT NOT NULL,
    parser_version TEXT NOT NULL,
    method TEXT NOT NULL
);

CREATE TABLE price_history (
    id INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    price TEXT,
    currency TEXT,
    availability TEXT,
    observed_at TEXT NOT NULL
);

CREATE INDEX price_history_product_observed ON price_history (product_id, observed_at);
