-- Products found gone by a recrawl (docs/discovery.md): when, as the fetch time of the discontinued
-- record; NULL while the product is on sale. A later product record clears it.

ALTER TABLE products ADD COLUMN discontinued_at TEXT;
