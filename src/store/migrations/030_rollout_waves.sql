-- Rollout engine state (src/rollout/): waves, per-device membership and a transition log. The
-- `rollouts` table (001) holds one row per applied rollout; these hang off it.
CREATE TABLE rollout_waves (
  rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  wave            INTEGER NOT NULL,               -- 0 = canary
  name            TEXT NOT NULL,
  size            INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'soaking', 'done')),
  started_at      INTEGER,                        -- wall ms, for display
  soak_started_at INTEGER,
  done_at         INTEGER,
  soak_elapsed_ms INTEGER NOT NULL DEFAULT 0,     -- monotonic soak time served so far (survives restarts)
  PRIMARY KEY (rollout_id, wave)
);

CREATE TABLE rollout_devices (
  rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  device_id       TEXT NOT NULL,                  -- no FK: history outlives a removed device
  wave            INTEGER NOT NULL,
  rank            TEXT NOT NULL,                  -- stable hash of rollout id + device id (hex): the order of assignment
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'offered', 'downloading', 'applied', 'succeeded', 'failed', 'rolled_back', 'cancelled')),
  from_sha256     TEXT,
  bytes           INTEGER NOT NULL DEFAULT 0,     -- patch or image size offered
  reason          TEXT,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_device ON rollout_devices(device_id);
CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);

CREATE TABLE rollout_log (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  at              INTEGER NOT NULL,
  state           TEXT NOT NULL,
  wave            INTEGER,
  reason          TEXT
);
CREATE INDEX rollout_log_rollout ON rollout_log(rollout_id, seq);
