-- furrow schema v1: the tables every module starts from. Later modules add numbered files beside this one.
CREATE TABLE devices (
  id              TEXT PRIMARY KEY,
  product         TEXT NOT NULL,
  hw_rev          TEXT,
  labels          TEXT NOT NULL DEFAULT '{}',     -- JSON object of string labels
  device_key      BLOB,                           -- per-device secret for request MACs (src/coap/PROTOCOL.md)
  last_counter    INTEGER NOT NULL DEFAULT 0,     -- highest request counter accepted (replay defence)
  running_sha256  TEXT,
  running_version TEXT,
  boot_slot       INTEGER,
  last_result     TEXT,
  rsrp            REAL,
  snr             REAL,
  battery         REAL,
  bearer          TEXT,
  created_at      INTEGER NOT NULL,               -- unix ms
  last_seen_at    INTEGER
);
CREATE INDEX devices_product ON devices(product);

CREATE TABLE releases (
  sha256          TEXT PRIMARY KEY,               -- of the whole image file (content address)
  product         TEXT NOT NULL,
  version         TEXT NOT NULL,
  secure_version  INTEGER NOT NULL DEFAULT 0,
  size            INTEGER NOT NULL,
  chip            TEXT NOT NULL,
  app_version     TEXT,                           -- esp_app_desc_t.version, informative only
  project_name    TEXT,
  idf_version     TEXT,
  build_date      TEXT,
  signature       BLOB,                           -- ES256 release statement signature, NULL if unsigned
  signer          TEXT,                           -- key id that signed it
  added_at        INTEGER NOT NULL,
  UNIQUE (product, version)
);

CREATE TABLE patches (
  id              TEXT PRIMARY KEY,               -- sha256 of the patch bytes
  from_sha256     TEXT NOT NULL REFERENCES releases(sha256),
  to_sha256       TEXT NOT NULL REFERENCES releases(sha256),
  kind            TEXT NOT NULL CHECK (kind IN ('delta', 'full')),
  size            INTEGER NOT NULL,
  format_version  INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (from_sha256, to_sha256)
);

CREATE TABLE transfers (
  device_id       TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  patch_id        TEXT NOT NULL,
  size            INTEGER NOT NULL,
  offset          INTEGER NOT NULL DEFAULT 0,     -- highest contiguous byte served/acknowledged
  bytes_served    INTEGER NOT NULL DEFAULT 0,
  retries         INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'completed', 'failed', 'aborted')),
  bearer          TEXT,
  started_at      INTEGER NOT NULL,
  last_seen_at    INTEGER NOT NULL,
  PRIMARY KEY (device_id, patch_id)
);
CREATE INDEX transfers_state ON transfers(state);

CREATE TABLE rollouts (
  id              TEXT PRIMARY KEY,
  release_sha256  TEXT NOT NULL REFERENCES releases(sha256),
  spec            TEXT NOT NULL,                  -- JSON of the applied rollout definition
  state           TEXT NOT NULL,
  current_wave    INTEGER NOT NULL DEFAULT 0,
  reason          TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

CREATE TABLE outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  topic           TEXT NOT NULL,
  payload         TEXT NOT NULL,
  retain          INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  sent_at         INTEGER                         -- NULL until the broker acknowledged it
);
CREATE INDEX outbox_pending ON outbox(sent_at) WHERE sent_at IS NULL;
