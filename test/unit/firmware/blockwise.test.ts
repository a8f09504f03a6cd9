import { beforeAll, describe, expect, it } from 'vitest';
import { buildFirmware, run } from './fw.ts';

/**
 * The C TAP test of block-wise POST (firmware/test/blockwise_test.c): furrow_checkin/furrow_report
 * against a scripted gateway in the port (RFC 7959 Block1 with 2.31, Block2 answers, and the ways a
 * server or the radio can disturb them).
 */
describe('block-wise check-in and report in C (PROTOCOL.md "Small frames")', () => {
  let lines: string[] = [];
  let status: number | null = null;
  beforeAll(() => {
    buildFirmware();
    const r = run('blockwise_test', []);
    status = r.status;
    lines = r.stdout.toString().split('\n').filter((l) => /^(not )?ok \d+ - /.test(l));
  });

  it('passes every C check', () => {
    expect(lines.length).toBe(16);
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(status).toBe(0);
  });

  for (const name of [
    'the server shrinks the block size in its first 2.31: the device goes on from byte 64 in 32-byte blocks',
    'a lost 2.31 Continue: the block is retransmitted (same message id), answered again, no restart',
    '4.08 Request Entity Incomplete mid-body: the device starts again at block 0, once, and completes',
    '4.13 without Block1 (body over the server\'s limit): FURROW_ERR_REQUEST_TOO_BIG with its own text',
    'an answer larger than the 1024-byte buffer stops at the block that would overflow it: FURROW_ERR_ANSWER_TOO_BIG',
  ]) {
    it(`checks that ${name}`, () => {
      expect(lines).toContain(`ok ${lines.findIndex((l) => l.endsWith(` - ${name}`)) + 1} - ${name}`);
    });
  }
});
