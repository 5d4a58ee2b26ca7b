-- price_history.kind: 'fetch' for a price seen in a fresh fetch, 'replay' for one found by
-- re-parsing a fetch already stored (a replay keeps the page's fetch time, so observed_at can
-- tie); order a product's history by id, the sink's insertion sequence. Prices are numeric
-- already, exact and numerically comparable.

ALTER TABLE price_history ADD COLUMN kind text NOT NULL DEFAULT 'fetch';
