-- Product details the parser reads since issue #19: the regular (struck-through)
-- price beside a sale price, brand, GTIN, MPN, a bounded description, and every
-- image URL (a JSON array as text). All nullable: older records lack them.

ALTER TABLE products ADD COLUMN regular_price TEXT;
ALTER TABLE products ADD COLUMN brand TEXT;
ALTER TABLE products ADD COLUMN gtin TEXT;
ALTER TABLE products ADD COLUMN mpn TEXT;
ALTER TABLE products ADD COLUMN description TEXT;
ALTER TABLE products ADD COLUMN images TEXT;
