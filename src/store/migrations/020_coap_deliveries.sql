-- CoAP delivery tokens (src/coap/deliveries.ts): one per device and patch. The token is the opaque,
-- unguessable URI segment of /m/<token> and /p/<token>; seq is the manifest sequence number
-- (monotonic per gateway, MANIFEST.md field 2); the signed manifest is kept so every block of it that a
-- device fetches comes from the same bytes, across daemon restarts.
CREATE TABLE deliveries (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  token           TEXT NOT NULL UNIQUE,
  device_id       TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  patch_id        TEXT NOT NULL,
  release_sha256  TEXT NOT NULL,
  size            INTEGER NOT NULL,
  manifest        BLOB NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (device_id, patch_id)
);
