-- delta module: one row per (base the device runs, target release) = the patch to serve for that move.
-- Rebuilt from 001's table because (a) the full image is one blob served for many bases, so the patch
-- id can no longer be the primary key, and (b) a device may run an image that is not a known release
-- (factory image): from_sha256 no longer references releases. from_sha256 = '' is the stand-alone
-- full-image patch of to_sha256.
CREATE TABLE patches_v2 (
  id              TEXT NOT NULL,                  -- sha256 of the patch bytes (its blob id)
  from_sha256     TEXT NOT NULL,                  -- base image; '' for the stand-alone full image
  to_sha256       TEXT NOT NULL REFERENCES releases(sha256),
  kind            TEXT NOT NULL CHECK (kind IN ('delta', 'full')),
  size            INTEGER NOT NULL,
  format_version  INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  delta_size      INTEGER,                        -- size of the delta built (also when the full image won)
  full_size       INTEGER,                        -- size of the full-image patch it was compared with
  table_digest    TEXT,                           -- chunk table digest (manifest field 9)
  chunk_count     INTEGER,
  build_ms        INTEGER,
  PRIMARY KEY (from_sha256, to_sha256)
);
INSERT INTO patches_v2 (id, from_sha256, to_sha256, kind, size, format_version, created_at)
  SELECT id, from_sha256, to_sha256, kind, size, format_version, created_at FROM patches;
DROP TABLE patches;
ALTER TABLE patches_v2 RENAME TO patches;
CREATE INDEX patches_id ON patches(id);
CREATE INDEX patches_to ON patches(to_sha256);
