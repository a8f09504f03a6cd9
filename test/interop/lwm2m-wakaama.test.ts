/**
 * Eclipse Wakaama's lwm2mclient (built from ../shared/interop) against furrow's LwM2M server modules on
 * real UDP: it registers, is read in TLV and SenML-JSON, observed, has its stub Object 5 written and
 * executed, and de-registers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lwm2mFormat, type ResourceValue } from '../../src/lwm2m/content.ts';
import { parseLinkFormat } from '../../src/lwm2m/link-format.ts';
import { startWakaama, type ClientProcess } from '../helpers/lwm2m-clients.ts';
import { startLwm2mHarness, type Lwm2mHarness } from '../helpers/lwm2m-harness.ts';

describe('Wakaama lwm2mclient against the LwM2M server', () => {
  let h: Lwm2mHarness;
  let client: ClientProcess | undefined;
  beforeAll(async () => {
    h = await startLwm2mHarness({ endpoints: { 'wakaama-1': { product: 'probe' } } });
    client = await startWakaama({ endpoint: 'wakaama-1', port: h.port, lifetime: 60, extra: ['-c'] });
  });
  afterAll(async () => {
    await client?.stop();
    await h?.stop();
  });

  it('registers with its object links and is stored', async () => {
    const e = await h.next('registered');
    expect(e.reg).toMatchObject({ endpoint: 'wakaama-1', lifetime: 60, queueMode: false });
    const uris = parseLinkFormat(e.reg.objects).map((l) => l.uri);
    expect(uris).toEqual(expect.arrayContaining(['/1/0', '/3/0', '/5/0']));
    expect(h.repo.byEndpoint('wakaama-1')?.location).toBe(e.reg.location);
  });

  it('answers a Read of /3/0 in TLV and in SenML-JSON with the same device facts', async () => {
    const byPath = (v: ResourceValue[]) => new Map(v.map((x) => [x.path, x.value]));
    const tlv = byPath(await h.dm.read('wakaama-1', '/3/0', Lwm2mFormat.Tlv));
    const senml = byPath(await h.dm.read('wakaama-1', '/3/0', Lwm2mFormat.SenmlJson));
    expect(tlv.get('/3/0/0')).toBe('Open Mobile Alliance');
    expect(typeof tlv.get('/3/0/3')).toBe('string');
    for (const p of ['/3/0/0', '/3/0/1', '/3/0/2', '/3/0/3']) expect(senml.get(p), p).toBe(tlv.get(p));
    const one = await h.dm.read('wakaama-1', '/3/0/1', Lwm2mFormat.Text);
    expect(one).toEqual([{ path: '/3/0/1', value: tlv.get('/3/0/1') }]);
  });

  it('sends notifications of an observed resource until the observation is cancelled', async () => {
    const seen: number[] = [];
    const from = client!.output.length;
    let notified!: () => void;
    const got = new Promise<void>((r) => (notified = r));
    const first = await h.dm.observe('wakaama-1', '/3/0/9', (v) => (seen.push(v[0]!.value as number), notified()));
    expect(typeof first[0]!.value).toBe('number');
    // -c changes the battery level every 10..30 s; the client says so on stderr
    await client!.waitFor(/New Battery Level: \d+/, 45_000, from);
    const level = Number(/New Battery Level: (\d+)/.exec(client!.output.slice(from))![1]);
    await got;
    expect(seen[0]).toBe(level);
    expect(h.dm.isObserving('wakaama-1', '/3/0/9')).toBe(true);
    await h.dm.cancel('wakaama-1', '/3/0/9');
    expect(h.dm.isObserving('wakaama-1', '/3/0/9')).toBe(false);
  }, 90_000);

  it('takes its stub Object 5 through Write Package URI and Execute, then refuses a second Execute', async () => {
    const state = async () => (await h.dm.read('wakaama-1', '/5/0/3', Lwm2mFormat.Tlv))[0]!.value;
    expect(await state()).toBe(1);
    await h.dm.write('wakaama-1', '/5/0/1', 'coap://127.0.0.1:5683/fw/AAAAAAAAAAAAAAAA');
    await h.dm.execute('wakaama-1', '/5/0/2');
    expect(await state()).toBe(2);
    await expect(h.dm.execute('wakaama-1', '/5/0/2')).rejects.toThrow(/client answered 4\.00/);
    await expect(h.dm.write('wakaama-1', '/5/0/3', 0)).rejects.toThrow(/client answered 4\.05/);
  });

  it('de-registers when it quits, and the registration is gone from the store', async () => {
    client!.send('quit');
    const e = await h.next('deregistered');
    expect(e.reg.endpoint).toBe('wakaama-1');
    expect(h.repo.byEndpoint('wakaama-1')).toBeUndefined();
    await client!.exited;
  });
});
