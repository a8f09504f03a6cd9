import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runFurrowInProcess as runFurrow } from '../helpers/cli.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort } from '../helpers/daemon.ts';
import { ModemEmulator } from '../helpers/modem-emulator/emulator.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('furrow modem status|at against the emulated modem', () => {
  let tmp: ReturnType<typeof tempDir>;
  let emu: ModemEmulator;
  let cfg: string;
  beforeAll(async () => {
    tmp = tempDir('furrow-modem-cli-');
    emu = new ModemEmulator({ model: 'bg96', link: join(tmp.dir, 'ttyBG96') });
    await emu.start();
    // The emulated network registers shortly after power-on; on a loaded machine the first test can
    // otherwise ask before it has (CSQ 99, CEREG 2), which is a real modem's answer but not this test's subject.
    await vi.waitFor(() => expect(emu.regStat).toBe(1), { timeout: 10_000 });
    cfg = join(tmp.dir, 'furrow.yaml');
    const coapPort = await freeUdpPort();
    const metricsPort = await freeTcpPort();
    writeFileSync(
      cfg,
      [
        `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }`,
        `coap: { host: 127.0.0.1, port: ${coapPort} }`,
        `metrics: { port: ${metricsPort} }`,
        `modem: { port: ${JSON.stringify(emu.link)}, localPort: 0, healthIntervalSeconds: 1, reconnect: { minMs: 100, maxMs: 500 } }`,
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await emu.stop();
    tmp.cleanup();
  });

  it('shows model, registration, signal and serving cell when it can open the port', async () => {
    const r = await runFurrow(['-c', cfg, 'modem', 'status']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/source\s+direct on .*ttyBG96/);
    expect(r.stdout).toMatch(/model\s+bg96 BG96MAR02A07M1G/);
    expect(r.stdout).toMatch(/sim\s+READY/);
    expect(r.stdout).toMatch(/registration\s+1 \(registered, home network\)/);
    expect(r.stdout).toMatch(/rsrp\s+-87 dBm/);
    expect(r.stdout).toMatch(/sinr\s+12 dB/);
    expect(r.stdout).toMatch(/cell\s+0A2B3C4 pci 257 earfcn 6300 band 20 tac 1A2B/);
    const j = await runFurrow(['-c', cfg, 'modem', 'status', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ model: 'bg96', csq: 20, rsrq: -11 + 2, registered: true });
  });

  it('sends one AT command and prints the answer; ERROR exits 1; a non-AT argument exits 2', async () => {
    const ok = await runFurrow(['-c', cfg, 'modem', 'at', 'AT+CSQ']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('+CSQ: 20,99\nOK\n');
    emu.failNext('AT+QIACT?', 30);
    const bad = await runFurrow(['-c', cfg, 'modem', 'at', 'AT+QIACT?']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^\+CME ERROR: 30|^ERROR/m);
    const usage = await runFurrow(['-c', cfg, 'modem', 'at', 'reboot now']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/"reboot now" is not one AT command/);
  });

  it('exits 2 naming the config file when no modem is configured', async () => {
    const bare = join(tmp.dir, 'bare.yaml');
    writeFileSync(bare, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data2'))} }\n`);
    const r = await runFurrow(['-c', bare, 'modem', 'status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bare\.yaml: no modem configured/);
  });

  it('says the port is busy while the daemon holds it, and shows the daemon\'s last reading instead', async () => {
    const daemon = DaemonProcess.start(['-c', cfg, 'start']);
    try {
      await daemon.waitForMsg('modem ready', 20_000);
      // Unplug the modem under the running daemon: it logs, keeps running, and brings the modem back.
      await emu.vanish(300);
      await daemon.waitFor((l) => l.msg === 'modem serial port lost; the bearer refuses datagrams until it is back', 10_000);
      await daemon.waitFor((l) => l.msg === 'modem ready' && daemon.lines.filter((x) => x.msg === 'modem ready').length >= 2, 20_000);
      expect(daemon.proc.exitCode).toBeNull();
      // One health poll after ready (interval 1 s) puts a snapshot in SQLite.
      await new Promise((r) => setTimeout(r, 1500));
      const at = await runFurrow(['-c', cfg, 'modem', 'at', 'AT']);
      expect(at.code).toBe(1);
      expect(at.stderr).toMatch(/is busy: another program \(the furrow daemon/);
      const st = await runFurrow(['-c', cfg, 'modem', 'status']);
      expect(st.code).toBe(0);
      expect(st.stderr).toMatch(/is busy .* showing the daemon's last reading/);
      expect(st.stdout).toMatch(/source\s+daemon snapshot, \d+ s old/);
      expect(st.stdout).toMatch(/state\s+ready/);
      expect(st.stdout).toMatch(/rsrp\s+-87 dBm/);
      expect(daemon.lines.some((l) => l.msg === 'CoAP listening' && l.bearer === 'modem')).toBe(true);
    } finally {
      const r = await daemon.stop();
      expect(r.code).toBe(0);
    }
  });
});
