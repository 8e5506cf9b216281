-- 001-initial.sql: the discrepancy log, first schema.
--
-- One row per discrepancy event. Times are unix milliseconds (UTC).
-- Each row's hash is BLAKE2b-256 over the previous row's hash and a
-- canonical serialisation of the row's fields (see src/dlog_db.h); the
-- chain's start after pruning and its head live in meta.
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('application', 'wuguard');

CREATE TABLE events (
	id INTEGER PRIMARY KEY,        -- assigned by the writer: previous + 1
	time INTEGER NOT NULL,         -- first seen, unix ms
	client TEXT NOT NULL,          -- after the privacy setting; '' when omitted
	qname TEXT NOT NULL,
	qtype INTEGER NOT NULL,
	category TEXT NOT NULL,
	severity TEXT NOT NULL,
	action TEXT NOT NULL,          -- what was served: local, public, stale, servfail
	l_rcode INTEGER NOT NULL,      -- -1: no answer
	l_flags INTEGER NOT NULL,
	l_ede INTEGER NOT NULL,        -- -1: none
	l_cname TEXT NOT NULL,         -- chain, space separated
	l_addrs TEXT NOT NULL,         -- addresses, space separated
	l_min_ttl INTEGER NOT NULL,    -- seconds, -1: none
	l_upstream TEXT NOT NULL,
	l_latency_us INTEGER NOT NULL, -- -1: no answer
	l_status TEXT NOT NULL,
	p_rcode INTEGER NOT NULL,
	p_flags INTEGER NOT NULL,
	p_ede INTEGER NOT NULL,
	p_cname TEXT NOT NULL,
	p_addrs TEXT NOT NULL,
	p_min_ttl INTEGER NOT NULL,
	p_upstream TEXT NOT NULL,
	p_latency_us INTEGER NOT NULL,
	p_status TEXT NOT NULL,
	markers TEXT NOT NULL,         -- recorded, not decided on: ttl-low nxra ...
	rule_version INTEGER NOT NULL,
	authenticated INTEGER NOT NULL, -- the public answer came over DNSCrypt
	hash BLOB NOT NULL
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_qname ON events (qname);
