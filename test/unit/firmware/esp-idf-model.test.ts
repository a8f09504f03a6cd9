import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusPath } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildFirmware, run } from './fw.ts';

/**
 * The C TAP test of the host model of ESP-IDF (firmware/test/esp_idf_test.c): the rules of ESP-IDF
 * v5.5.3's esp_partition, esp_ota_ops, bootloader and NVS that the ESP-IDF port is driven against
 * (test/e2e/device-esp-port.test.ts). One vitest case per rule named here.
 */
describe('host model of the ESP-IDF APIs the port uses (C)', () => {
  const tmp = tempDir('furrow-esp-idf-');
  let lines: string[] = [];
  let status: number | null = null;
  beforeAll(() => {
    buildFirmware();
    const r = run('esp_idf_test', [tmp.dir, corpusPath('nerdminer-tdisplay-s3/1.6.0.bin')]);
    status = r.status;
    lines = r.stdout.toString().split('\n').filter((l) => /^(not )?ok \d+ - /.test(l));
  });
  afterAll(() => tmp.cleanup());

  it('runs all 26 C checks and every one passes', () => {
    expect(lines.length).toBe(26);
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(status).toBe(0);
  });

  const names = [
    'esp_ota_write_with_offset after esp_ota_begin(OTA_WITH_SEQUENTIAL_WRITES) aborts (need_erase assert)',
    'erase_range refuses an offset that is not 4 KB aligned (ESP_ERR_INVALID_ARG)',
    'partition_write refuses to set a 0 bit back to 1 (flash not erased)',
    'esp_ota_set_boot_partition refuses a slot without a valid image (ESP_ERR_OTA_VALIDATE_FAILED)',
    'the bootloader boots a NEW image as PENDING_VERIFY',
    'a reset before confirmation aborts the image and boots the other slot',
    'nvs_get_blob into a smaller buffer is ESP_ERR_NVS_INVALID_LENGTH and gives the size',
  ];
  for (const name of names) {
    it(`checks that ${name}`, () => {
      expect(lines).toContainEqual(`ok ${lines.findIndex((l) => l.endsWith(` - ${name}`)) + 1} - ${name}`);
    });
  }
});
