-- Patch format negotiation (src/delta/FORMAT.md v2, check-in key 10 in src/coap/PROTOCOL.md): a device
-- says which furrow patch format it decodes, so one move (base -> target) can have a patch per format:
-- format_cap is the highest format the build was allowed to use (the patch itself may be a lower
-- version, e.g. a full image is always v1). Rebuilt because the primary key gains format_cap.
-- Existing rows were built by a v1-only encoder: format_cap = format_version = 1.
CREATE TABLE patches_v3 (
  id              TEXT NOT NULL,                  -- sha256 of the patch bytes (its blob id)
  from_sha256     TEXT NOT NULL,                  -- base image; '' for the stand-alone full image
  to_sha256       TEXT NOT NULL REFERENCES releases(sha256),
  format_cap      INTEGER NOT NULL DEFAULT 1,     -- highest patch format this row was built for
  kind            TEXT NOT NULL CHECK (kind IN ('delta', 'full')),
  size            INTEGER NOT NULL,
  format_version  INTEGER NOT NULL,               -- format_version of the patch bytes (<= format_cap)
  created_at      INTEGER NOT NULL,
  delta_size      INTEGER,
  full_size       INTEGER,
  table_digest    TEXT,
  chunk_count     INTEGER,
  build_ms        INTEGER,
  PRIMARY KEY (from_sha256, to_sha256, format_cap)
);
INSERT INTO patches_v3 (id, from_sha256, to_sha256, format_cap, kind, size, format_version, created_at, delta_size, full_size, table_digest, chunk_count, build_ms)
  SELECT id, from_sha256, to_sha256, format_version, kind, size, format_version, created_at, delta_size, full_size, table_digest, chunk_count, build_ms FROM patches;
DROP TABLE patches;
ALTER TABLE patches_v3 RENAME TO patches;
CREATE INDEX patches_id ON patches(id);
CREATE INDEX patches_to ON patches(to_sha256);

-- the highest patch format the device's firmware decodes (check-in key 10; absent = 1)
ALTER TABLE devices ADD COLUMN patch_format INTEGER NOT NULL DEFAULT 1;
