-- 002-aggregation.sql: aggregation of identical events, hourly counters.
--
-- Identical events within the aggregate window update count and last_seen
-- of the row first written instead of adding rows. Both columns are outside
-- the hash chain: the chain covers what was first seen.
ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE events SET last_seen = time;
CREATE INDEX events_agg ON events (qname, qtype, time);
CREATE INDEX events_last_seen ON events (last_seen);

-- Health as well as problems: one row per hour (unix seconds / 3600).
CREATE TABLE counters (
	hour INTEGER PRIMARY KEY,
	guarded INTEGER NOT NULL DEFAULT 0,
	matched INTEGER NOT NULL DEFAULT 0,
	cdn_variance INTEGER NOT NULL DEFAULT 0,
	repaired INTEGER NOT NULL DEFAULT 0,
	public_unavailable INTEGER NOT NULL DEFAULT 0
);
