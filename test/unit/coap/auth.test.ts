import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeEnvelope, requestMac, RequestAuthenticator } from '../../../src/coap/auth.ts';
import { BAD_REQUEST, UNAUTHORIZED } from '../../../src/coap/codes.ts';
import { encodeCbor } from '../../../src/manifest/cbor.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';

describe('request envelope: MAC and counter (PROTOCOL.md)', () => {
  let dir: string;
  let db: Db;
  let auth: RequestAuthenticator;
  const key = Buffer.alloc(32, 3);
  const body = new Map<number, unknown>([[1, 'p']]);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    db = openDatabase(join(dir, 'f.db'), { skipIntegrityCheck: true });
    new DeviceRepo(db).add({ id: 'dev', product: 'p', deviceKey: key }, 0);
    auth = new RequestAuthenticator(new DeviceRepo(db));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches the documented MAC layout: HMAC-SHA256(K, path || id || 0 || counter_be64 || body)[0..16]', () => {
    // Test vector (computed independently with Python's hmac; also in PROTOCOL.md for the firmware).
    const mac = requestMac(Buffer.alloc(32, 1), 'c', 'probe-1', 7, Buffer.from([0xa1, 0x01, 0x61, 0x70]));
    expect(mac.toString('hex')).toBe('b9bb9cb94d9da043c51556ac46e5c89e');
  });

  it('accepts a fresh counter once and refuses it the second time, naming the last one', () => {
    const env = encodeEnvelope(key, 'c', 'dev', 5, body);
    const ok = auth.check('c', env);
    expect(ok.ok).toBe(true);
    const again = auth.check('c', env);
    expect(again).toMatchObject({ ok: false, code: UNAUTHORIZED, lastCounter: 5 });
  });

  it('refuses a MAC made for the other resource (a check-in replayed as a report)', () => {
    expect(auth.check('r', encodeEnvelope(key, 'c', 'dev', 1, body))).toMatchObject({ ok: false, code: UNAUTHORIZED, message: 'request not authenticated' });
  });

  it('refuses malformed envelopes with 4.00 naming the field', () => {
    expect(auth.check('c', Buffer.from([0xff]))).toMatchObject({ code: BAD_REQUEST });
    expect(auth.check('c', encodeCbor(['dev', 1, Buffer.alloc(1)]))).toMatchObject({ code: BAD_REQUEST, message: expect.stringMatching(/envelope/) });
    expect(auth.check('c', encodeCbor(['dev', -1, Buffer.alloc(1), Buffer.alloc(16)]))).toMatchObject({ message: expect.stringMatching(/counter/) });
    expect(auth.check('c', encodeCbor(['dev', 1, Buffer.alloc(1), Buffer.alloc(8)]))).toMatchObject({ message: expect.stringMatching(/16-byte/) });
  });

  it('answers an unknown device exactly like a bad MAC', () => {
    const r = auth.check('c', encodeEnvelope(key, 'c', 'ghost', 1, body));
    expect(r).toMatchObject({ ok: false, code: UNAUTHORIZED, message: 'request not authenticated' });
    expect('lastCounter' in r && r.lastCounter !== undefined).toBe(false);
  });

  it('does not advance the counter for a request whose MAC fails', () => {
    const forged = encodeEnvelope(Buffer.alloc(32, 9), 'c', 'dev', 100, body);
    auth.check('c', forged);
    expect(new DeviceRepo(db).key('dev')!.lastCounter).toBe(0);
  });
});
