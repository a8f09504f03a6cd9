-- Stock ESP32 Wi-Fi devices over HTTPS (src/http/HTTP.md): an Arduino HTTPUpdate device is known by
-- the station MAC it sends (x-ESP32-STA-MAC), an esp_https_ota device by the unguessable token in
-- its URL (/ota/<token>). Both are set by `furrow devices add --mac`; NULL for CoAP-only devices.
ALTER TABLE devices ADD COLUMN mac TEXT;
ALTER TABLE devices ADD COLUMN http_token TEXT;
CREATE UNIQUE INDEX devices_mac ON devices(mac) WHERE mac IS NOT NULL;
CREATE UNIQUE INDEX devices_http_token ON devices(http_token) WHERE http_token IS NOT NULL;

-- esp_delta_ota patches (src/http/HTTP.md): a detools sequential patch with esp_delta_ota's 64-byte
-- header, one per move and codec; the bytes are a blob (patch_sha256). The codec names the pinned
-- compression parameters, so a different default later is a different row, never a changed patch.
CREATE TABLE http_delta_patches (
  from_sha256     TEXT NOT NULL REFERENCES releases(sha256),
  to_sha256       TEXT NOT NULL REFERENCES releases(sha256),
  codec           TEXT NOT NULL,                  -- e.g. 'detools-heatshrink-w8-l7'
  patch_sha256    TEXT NOT NULL,
  size            INTEGER NOT NULL,
  build_ms        INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (from_sha256, to_sha256, codec)
);
