-- Telemetry outbox (040-049 belong to telemetry). `kind` decides what a bounded outbox drops first when the
-- backhaul has been down for long: progress, then state; results are never dropped.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'state' CHECK (kind IN ('progress', 'state', 'result'));
CREATE INDEX outbox_pending_kind ON outbox(kind, seq) WHERE sent_at IS NULL;

-- Counters that must survive restarts (events dropped by the bound, last acknowledged sequence number).
CREATE TABLE outbox_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
