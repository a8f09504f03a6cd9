-- Last modem health snapshot written by the daemon, so `furrow modem status` can answer while the
-- daemon holds the serial port. One row; the snapshot is the JSON of ModemHealth (src/modem/health.ts).
CREATE TABLE modem_status (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  port TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  snapshot TEXT NOT NULL
);
