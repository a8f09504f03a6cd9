-- Stock ESP32 Wi-Fi devices over HTTPS (src/http/HTTP.md): an Arduino HTTPUpdate device is known by
-- the station MAC it sends (x-ESP32-STA-MAC), an esp_https_ota device by the unguessable token in
-- its URL (/ota/<token>). Both are set by `furrow devices add --mac`; NULL for CoAP-only devices.
ALTER TABLE devices ADD COLUMN mac TEXT;
ALTER TABLE devices ADD COLUMN http_token TEXT;
CREATE UNIQUE INDEX devices_mac ON devices(mac) WHERE mac IS NOT NULL;
CREATE UNIQUE INDEX devices_http_token ON devices(http_token) WHERE http_token IS NOT NULL;
