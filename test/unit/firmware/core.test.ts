import { beforeAll, describe, expect, it } from 'vitest';
import { buildFirmware, run } from './fw.ts';

/** The C TAP test of protocol pieces against fixed vectors (firmware/test/core_test.c). */
describe('device protocol pieces in C: MAC vector, CBOR, CoAP options, check-in answer, COSE framing', () => {
  let lines: string[] = [];
  let status: number | null = null;
  beforeAll(() => {
    buildFirmware();
    const r = run('core_test', []);
    status = r.status;
    lines = r.stdout.toString().split('\n').filter((l) => /^(not )?ok \d+ - /.test(l));
  });

  it('passes every C check', () => {
    expect(lines.length).toBe(15);
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(status).toBe(0);
  });

  for (const name of ['request MAC matches the PROTOCOL.md test vector', 'COSE_Sign1 untagged accepted (MANIFEST.md v1)', 'check-in answer: fields read, unknown key 99 ignored']) {
    it(`checks that the ${name}`, () => {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok \\d+ - ${name.replace(/[()]/g, '\\$&')}$`)));
    });
  }
});
