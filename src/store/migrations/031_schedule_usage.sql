-- Data sent per bearer per calendar period (schedule module): the SIM budget survives restarts.
CREATE TABLE schedule_usage (
  bearer   TEXT NOT NULL,
  period   TEXT NOT NULL CHECK (period IN ('day', 'month')),
  key      TEXT NOT NULL,                 -- '2026-11-25' or '2026-11' in schedule.timezone
  bytes    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bearer, period, key)
);
