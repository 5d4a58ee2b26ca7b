-- Product details the parser reads since issue #19: the regular (struck-through)
-- price beside a sale price, brand, GTIN, MPN, a bounded description, and every
-- image URL (a JSON array as text, as in SQLite). All nullable: older records lack them.

ALTER TABLE products
    ADD COLUMN regular_price numeric,
    ADD COLUMN brand text,
    ADD COLUMN gtin text,
    ADD COLUMN mpn text,
    ADD COLUMN description text,
    ADD COLUMN images text;
