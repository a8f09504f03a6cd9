-- LoRa multicast FUOTA sessions (src/bearer/lora/fuota/) and TS003 device clocks. A session row is the
-- checkpoint a restarted daemon resumes from: the group keys, the ChirpStack group and how many
-- fragments went out; member rows keep each device's answers, so no device's progress is lost.
CREATE TABLE lora_mc_sessions (
  id               TEXT PRIMARY KEY,                -- short random id the CLI shows
  rollout_id       TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  wave             INTEGER NOT NULL,
  from_sha256      TEXT NOT NULL,
  to_sha256        TEXT NOT NULL,
  patch_id         TEXT NOT NULL,                   -- blob id (SHA-256) of the data sent
  patch_size       INTEGER NOT NULL,
  state            TEXT NOT NULL
                   CHECK (state IN ('queued', 'setup', 'broadcast', 'status', 'repair', 'done', 'failed', 'cancelled')),
  origin           TEXT NOT NULL CHECK (origin IN ('rollout', 'cli')),
  cancel_requested INTEGER NOT NULL DEFAULT 0,      -- set by `furrow lora multicast cancel`, acted on by the daemon
  mc_addr          INTEGER,                         -- TS005 McAddr, once the group exists
  mc_key           BLOB,                            -- TS005 McKey (16 bytes): a resumed session keeps its group
  group_id         TEXT,                            -- ChirpStack multicast group id
  frag_size        INTEGER,
  nb_frag          INTEGER,
  parity           INTEGER,
  sent             INTEGER NOT NULL DEFAULT 0,      -- fragments (uncoded + parity) handed to ChirpStack
  reason           TEXT,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX lora_mc_sessions_state ON lora_mc_sessions(state);
CREATE INDEX lora_mc_sessions_rollout ON lora_mc_sessions(rollout_id, wave);

CREATE TABLE lora_mc_members (
  session_id       TEXT NOT NULL REFERENCES lora_mc_sessions(id) ON DELETE CASCADE,
  device_id        TEXT NOT NULL,
  dev_eui          TEXT NOT NULL,
  state            TEXT NOT NULL DEFAULT 'setup' CHECK (state IN ('setup', 'ready', 'complete', 'failed')),
  missing          INTEGER,                         -- fragments missing after the multicast (FragSessionStatusAns)
  repair_fragments INTEGER NOT NULL DEFAULT 0,
  reason           TEXT,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (session_id, device_id)
);
CREATE INDEX lora_mc_members_device ON lora_mc_members(device_id);

CREATE TABLE lora_clock_sync (
  dev_eui          TEXT PRIMARY KEY,
  synced_at        INTEGER NOT NULL,                -- unix ms of the last AppTimeReq answered or found in tolerance
  correction_s     INTEGER NOT NULL,                -- last TimeCorrection computed (seconds)
  token            INTEGER NOT NULL,                -- last TokenReq seen
  requests         INTEGER NOT NULL DEFAULT 0
);
