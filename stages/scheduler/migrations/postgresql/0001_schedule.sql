-- The recrawl schedule: one row per product (key: its id), one per host (its dispatch rate).
-- Times are UNIX seconds. due_at NULL: no longer scheduled (discontinued max-misses times in a row).

CREATE TABLE recrawl_schedule (
    product_id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    site TEXT NOT NULL,
    price TEXT,
    availability TEXT,
    visited_at DOUBLE PRECISION NOT NULL,
    interval_seconds DOUBLE PRECISION NOT NULL,
    due_at DOUBLE PRECISION,
    dispatched_at DOUBLE PRECISION,
    misses INTEGER NOT NULL DEFAULT 0
);

-- A host's earliest due URL, and whether it has one, in one index probe.
CREATE INDEX recrawl_schedule_host_due ON recrawl_schedule (host, due_at) WHERE due_at IS NOT NULL;

-- slot_at: the earliest time the host's next recrawl URL may be published (its rate).
CREATE TABLE recrawl_hosts (
    host TEXT PRIMARY KEY NOT NULL,
    slot_at DOUBLE PRECISION NOT NULL DEFAULT 0
);
