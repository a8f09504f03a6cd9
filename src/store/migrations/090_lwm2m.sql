-- LwM2M server (src/lwm2m/LWM2M.md): a device may speak furrow's own protocol or be a stock LwM2M client.
ALTER TABLE devices ADD COLUMN protocol TEXT NOT NULL DEFAULT 'furrow' CHECK (protocol IN ('furrow', 'lwm2m'));

-- One row per registered client (Register creates, Update refreshes, De-register or lifetime expiry deletes).
CREATE TABLE lwm2m_registrations (
  location        TEXT PRIMARY KEY,               -- the Location-Path segment after /rd/
  endpoint        TEXT NOT NULL UNIQUE,           -- ep=, also the device id
  lifetime        INTEGER NOT NULL,               -- seconds (lt=)
  version         TEXT NOT NULL,                  -- lwm2m=
  binding         TEXT NOT NULL,                  -- b= (U, UQ, ...)
  queue_mode      INTEGER NOT NULL,               -- 1: requests wait for the client's next Update
  objects         TEXT NOT NULL,                  -- the CoRE link payload as last sent
  address         TEXT NOT NULL,
  port            INTEGER NOT NULL,
  bearer          TEXT NOT NULL,
  registered_at   INTEGER NOT NULL,               -- unix ms
  updated_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL
);

-- The Object 5 pull flow of one client (src/lwm2m/firmware-flow.ts): which release it is being given and
-- where the state machine stands. token names its package URI /fw/<token> (never reused for other bytes).
CREATE TABLE lwm2m_firmware (
  device_id       TEXT PRIMARY KEY,
  release_sha256  TEXT NOT NULL,
  rollout_id      TEXT,
  token           TEXT NOT NULL UNIQUE,
  phase           TEXT NOT NULL CHECK (phase IN ('uri-written', 'downloading', 'downloaded', 'updating', 'succeeded', 'failed')),
  fw_state        INTEGER,                        -- last /5/0/3 seen
  fw_result       INTEGER,                        -- last /5/0/5 seen
  from_version    TEXT,
  bytes_served    INTEGER NOT NULL DEFAULT 0,
  reason          TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
