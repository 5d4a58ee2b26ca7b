-- Prices that compare as numbers, and price history that orders and says what it observed.
--
-- price_micros is the price in millionths (exact: the sink refuses prices with more than 6
-- digits after the point, --max-price-scale), so `WHERE price_micros < 10 * 1000000` finds
-- the products under 10 and `ORDER BY price_micros` is numeric order; `price` stays the
-- decimal text it was. Existing rows are converted from their text here, exactly.
--
-- price_history.kind is 'fetch' for a price seen in a fresh fetch and 'replay' for one found by
-- re-parsing a fetch already stored (a replay keeps the page's fetch time, so observed_at can
-- tie); order a product's history by id, the sink's insertion sequence.

ALTER TABLE products ADD COLUMN price_micros INTEGER;
ALTER TABLE price_history ADD COLUMN price_micros INTEGER;
ALTER TABLE price_history ADD COLUMN kind TEXT NOT NULL DEFAULT 'fetch';

UPDATE products SET price_micros =
    CAST(substr(price, 1, instr(price || '.', '.') - 1) AS INTEGER) * 1000000
    + CAST(substr(substr(price, instr(price || '.', '.') + 1) || '000000', 1, 6) AS INTEGER)
WHERE price IS NOT NULL;
UPDATE price_history SET price_micros =
    CAST(substr(price, 1, instr(price || '.', '.') - 1) AS INTEGER) * 1000000
    + CAST(substr(substr(price, instr(price || '.', '.') + 1) || '000000', 1, 6) AS INTEGER)
WHERE price IS NOT NULL;

CREATE INDEX products_price_micros ON products (price_micros);
