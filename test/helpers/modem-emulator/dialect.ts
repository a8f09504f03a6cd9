import dgram from 'node:dgram';
import type { EmuSocket, ModemEmulator } from './emulator.ts';

/**
 * The AT dialect of the emulated modems, after the BC66/BG96 AT Commands Manuals and TCP/IP
 * Application Notes. Only what a gateway uses; anything else answers ERROR like a real modem would for
 * a command it does not know.
 */
const IDENT = {
  bc66: { ati: ['Quectel_Ltd', 'Quectel_BC66', 'Revision: BC66NBR01A10'], cgmr: ['Revision: BC66NBR01A10'] },
  bg96: { ati: ['Quectel', 'BG96', 'Revision: BG96MAR02A07M1G'], cgmr: ['BG96MAR02A07M1G'] },
};

function params(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (const ch of s) {
    if (ch === '"') q = !q;
    else if (ch === ',' && !q) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

export function handleCommand(emu: ModemEmulator, cmd: string): void {
  const upper = cmd.toUpperCase();
  if (!upper.startsWith('AT')) return emu.respond([], 'ERROR');
  const body = cmd.slice(2);
  const eq = body.indexOf('=');
  const name = (eq >= 0 ? body.slice(0, eq) : body.replace(/\?$/, '')).toUpperCase();
  const isRead = eq < 0 && body.endsWith('?');
  const args = eq >= 0 ? params(body.slice(eq + 1)) : [];
  const bc66 = emu.model === 'bc66';
  const sig = emu.signal;

  switch (name) {
    case '':
      return emu.respond([]);
    case 'E0':
    case 'E1':
      emu.echo = name === 'E1';
      return emu.respond([]);
    case 'I':
      return emu.respond(IDENT[emu.model].ati);
    case '+CGMR':
      return emu.respond(IDENT[emu.model].cgmr);
    case '+CMEE':
      emu.cmee = Number(args[0] ?? 0);
      return emu.respond([]);
    case '+CPIN':
      return isRead ? emu.respond(['+CPIN: READY']) : emu.error(3);
    case '+CSQ':
      return emu.respond([`+CSQ: ${emu.regStat === 1 ? sig.csq : 99},99`]);
    case '+CESQ':
      return emu.respond([emu.regStat === 1 ? `+CESQ: 99,99,255,255,${Math.round((sig.rsrq + 19.5) * 2)},${sig.rsrp + 140}` : '+CESQ: 99,99,255,255,255,255']);
    case '+CEREG':
      if (isRead) {
        const loc = emu.ceregMode >= 2 && emu.regStat === 1 ? `,"${sig.tac}","${sig.cellId}",${bc66 ? 9 : 8}` : '';
        return emu.respond([`+CEREG: ${emu.ceregMode},${emu.regStat}${loc}`]);
      }
      emu.ceregMode = Number(args[0] ?? 0);
      return emu.respond([]);
    case '+CGPADDR':
      return emu.respond(emu.pdpActive ? [`+CGPADDR: 1,${emu.ip}`] : ['+CGPADDR: 1']);
    case '+QSCLK':
    case '+CPSMS':
    case '+CEDRXS':
      if (!bc66 && name === '+QSCLK') return emu.respond([], 'ERROR');
      emu.settings.set(name, args.join(','));
      return emu.respond([]);
    case '+QENG':
      if (bc66 && args[0] === '0') {
        if (emu.regStat !== 1) return emu.respond(['+QENG: 0,0,0,0,"",,,,,0,"",,,0']);
        return emu.respond([`+QENG: 0,3734,2,257,"${sig.cellId}",${sig.rsrp},${sig.rsrq},-60,${sig.sinr},20,"${sig.tac}",${sig.ceLevel},10,0`]);
      }
      if (!bc66 && args[0]?.toLowerCase() === 'servingcell') {
        if (emu.regStat !== 1) return emu.respond(['+QENG: "servingcell","SEARCH"']);
        return emu.respond([`+QENG: "servingcell","NOCONN","CAT-M","FDD",262,01,${sig.cellId},257,6300,20,5,5,${sig.tac},${sig.rsrp},${sig.rsrq},-65,${(sig.sinr + 20) * 5},30`]);
      }
      return emu.error(50);
    case '+QCFG':
      if (bc66) return emu.respond([], 'ERROR');
      if (args[0] === 'celevel') return emu.respond([`+QCFG: "celevel",${sig.ceLevel}`]);
      if (args[0] === 'iotopmode' || args[0] === 'nwscanseq') {
        if (args.length < 2) return emu.respond([`+QCFG: "${args[0]}",${emu.settings.get(args[0]) ?? '0'}`]);
        emu.settings.set(args[0], args[1]!);
        return emu.respond([]);
      }
      return emu.error(50);
    case '+QICSGP':
      if (bc66) return emu.respond([], 'ERROR');
      emu.apn = args[2] ?? '';
      return emu.respond([]);
    case '+QIACT':
      if (bc66) return emu.respond([], 'ERROR');
      if (isRead) return emu.respond(emu.pdpActive ? [`+QIACT: 1,1,1,"${emu.ip}"`] : []);
      if (emu.regStat !== 1) return emu.error(561);
      emu.pdpActive = true;
      return emu.respond([]);
    case '+QIDEACT':
      emu.pdpActive = false;
      emu.closeAllSockets();
      return emu.respond([]);
    case '+QICFG': {
      const v = args.slice(1).map(Number);
      if (args[0] === 'dataformat') {
        if (emu.noDataformat) return emu.respond([], 'ERROR');
        emu.sendHex = v[0] === 1;
        emu.recvHex = v[1] === 1;
      } else if (args[0] === 'viewmode') emu.viewmode = v[0] ?? 0;
      else if (args[0] === 'showlength') emu.showlength = v[0] === 1;
      else return emu.error(50);
      return emu.respond([]);
    }
    case '+QICLOSE':
      emu.closeSocket(Number(args[0]));
      return emu.respond([]);
    case '+QIOPEN':
      return qiopen(emu, args);
    case '+QISEND':
      return qisend(emu, args);
    case '+QIRD':
      return qird(emu, args);
    default:
      return emu.respond([], 'ERROR');
  }
}

function qiopen(emu: ModemEmulator, a: string[]): void {
  const id = Number(a[1]);
  const service = a[2];
  const bc66 = emu.model === 'bc66';
  if (!Number.isInteger(id) || id < 0 || id > (bc66 ? 4 : 11)) return emu.error(552);
  if (emu.sockets.has(id)) return emu.error(563);
  if (!emu.pdpActive) return emu.error(bc66 ? 570 : 561);
  if (bc66 ? service !== 'UDP' : service !== 'UDP SERVICE' && service !== 'UDP') return emu.error(555);
  const remote = service === 'UDP' ? { address: a[3]!, port: Number(a[4]) } : undefined;
  const localPort = Number(a[5] ?? 0);
  const push = Number(a[6] ?? 1) === 1;
  emu.respond([]);
  const failure = emu.openFailures.shift();
  if (failure !== undefined) {
    emu.log(`fault: +QIOPEN: ${id},${failure}`);
    setTimeout(() => emu.urc('qiopen', `+QIOPEN: ${id},${failure}`), 5);
    return;
  }
  const udp = dgram.createSocket('udp4');
  const sock: EmuSocket = { id, service: service as EmuSocket['service'], udp, ...(remote ? { remote } : {}), push, queue: [] };
  udp.on('error', () => emu.urc('qiopen', `+QIOPEN: ${id},556`));
  udp.bind(localPort, '127.0.0.1', () => {
    if (remote) udp.connect(remote.port, remote.address);
    emu.sockets.set(id, sock);
    udp.on('message', (data, rinfo) => deliver(emu, sock, data, rinfo.address, rinfo.port));
    const report = () => emu.urc('qiopen', `+QIOPEN: ${id},0`);
    if (remote) udp.once('connect', report);
    else report();
  });
}

function deliver(emu: ModemEmulator, s: EmuSocket, data: Buffer, address: string, port: number): void {
  const enc = (d: Buffer) => (emu.recvHex ? d.toString('hex').toUpperCase() : d.toString('latin1'));
  if (!s.push) {
    const wasEmpty = s.queue.length === 0;
    s.queue.push({ data, address, port });
    // Buffer mode: no new URC until the host has read the buffer empty (BG96 TCP/IP AN §2.3.2).
    if (wasEmpty) emu.urc('recv', `+QIURC: "recv",${s.id}${emu.showlength ? `,${data.length}` : ''}`);
    return;
  }
  if (s.service === 'UDP SERVICE') {
    emu.urc('recv', `+QIURC: "recv",${s.id},${data.length},"${address}",${port}`, Buffer.from(enc(data), 'latin1'));
  } else if (emu.viewmode === 1) {
    emu.urc('recv', `+QIURC: "recv",${s.id},${data.length},${enc(data)}`);
  } else {
    emu.urc('recv', `+QIURC: "recv",${s.id},${data.length}`, Buffer.from(enc(data), 'latin1'));
  }
}

function qisend(emu: ModemEmulator, a: string[]): void {
  const id = Number(a[0]);
  const len = Number(a[1]);
  const s = emu.sockets.get(id);
  if (!s) return emu.error(emu.model === 'bc66' ? 567 : 3);
  const max = emu.model === 'bc66' ? 1024 : 1460;
  if (!Number.isInteger(len) || len < 1 || len > max) return emu.error(552);
  const bc66 = emu.model === 'bc66';
  const send = (data: Buffer, to?: { address: string; port: number }) => {
    const done = (err: Error | null) => {
      if (bc66) emu.respond([], 'OK');
      emu.respond([], err ? 'SEND FAIL' : 'SEND OK');
    };
    if (to) s.udp.send(data, to.port, to.address, done);
    else s.udp.send(data, done);
  };
  if (s.service === 'UDP SERVICE') {
    if (a.length < 4) return emu.error(552);
    const to = { address: a[2]!, port: Number(a[3]) };
    return emu.expectData(len, (d) => send(d, to));
  }
  if (a.length >= 3 && a[2] !== '') {
    const data = emu.sendHex ? Buffer.from(a[2]!, 'hex') : Buffer.from(a[2]!, 'latin1');
    if (data.length !== len) return emu.error(552);
    return send(data);
  }
  return emu.expectData(len, (d) => send(d));
}

function qird(emu: ModemEmulator, a: string[]): void {
  const id = Number(a[0]);
  const s = emu.sockets.get(id);
  if (!s) return emu.error(emu.model === 'bc66' ? 567 : 3);
  const enc = (d: Buffer) => (emu.recvHex ? d.toString('hex').toUpperCase() : d.toString('latin1'));
  if (a[1] === '0') {
    const unread = s.queue.reduce((n, q) => n + q.data.length, 0);
    return emu.respond([emu.model === 'bg96' ? `+QIRD: ${unread},0,${unread}` : `+QIRD: ${unread}`]);
  }
  const next = s.queue.shift();
  if (!next) return emu.respond(['+QIRD: 0']);
  if (s.service === 'UDP SERVICE') {
    emu.write(Buffer.concat([Buffer.from(`\r\n+QIRD: ${next.data.length},"${next.address}",${next.port}\r\n`), Buffer.from(enc(next.data), 'latin1'), Buffer.from('\r\n')]));
    return emu.respond([]);
  }
  const remaining = s.queue.reduce((n, q) => n + q.data.length, 0);
  const head = `+QIRD: ${next.data.length}${emu.showlength ? `,${remaining}` : ''}`;
  return emu.respond([emu.viewmode === 1 ? `${head},${enc(next.data)}` : `${head}\r\n${enc(next.data)}`]);
}
