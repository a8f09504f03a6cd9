import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusPath } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildFirmware, run } from './fw.ts';

/** The C TAP test of the host port (firmware/test/flash_test.c), one vitest case per TAP line. */
describe('host port: NOR flash, power cuts, ESP image check, bootloader rollback (C)', () => {
  const tmp = tempDir('furrow-flash-test-');
  let lines: string[] = [];
  let status: number | null = null;
  beforeAll(() => {
    buildFirmware();
    const r = run('flash_test', [tmp.dir, corpusPath('nerdminer-tdisplay-s3/1.6.0.bin')]);
    status = r.status;
    lines = r.stdout.toString().split('\n').filter((l) => /^(not )?ok \d+ - /.test(l));
  });
  afterAll(() => tmp.cleanup());

  it('runs all 25 C checks and every one passes', () => {
    expect(lines.length).toBe(25);
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(status).toBe(0);
  });

  const names = [
    'a write that would set a 0 bit back to 1 is refused',
    'a power cut during a write leaves half of it written',
    'a power cut during a state store keeps the old state',
    'a reset before confirmation rolls back to the old slot',
    'a boot slot whose image broke falls back to the other slot',
  ];
  for (const name of names) {
    it(`checks that ${name}`, () => {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok \\d+ - ${name}$`)));
    });
  }
});
