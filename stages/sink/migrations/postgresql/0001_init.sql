-- The sink's tables. numeric keeps prices exact and timestamptz keeps the
-- microseconds of fetched_at/parsed_at, which the upsert's staleness guard
-- compares.

CREATE TABLE products (
    id text PRIMARY KEY,
    site text NOT NULL,
    url text NOT NULL,
    title text NOT NULL,
    price numeric,
    currency text,
    price_raw text,
    price_ok boolean NOT NULL,
    availability text,
    image text,
    sku text,
    page_url text NOT NULL,
    fetched_at timestamptz NOT NULL,
    parsed_at timestamptz NOT NULL,
    parser_version text NOT NULL,
    method text NOT NULL
);

CREATE TABLE price_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id text NOT NULL REFERENCES products (id),
    price numeric,
    currency text,
    availability text,
    observed_at timestamptz NOT NULL
);

CREATE INDEX price_history_product_observed ON price_history (product_id, observed_at);
