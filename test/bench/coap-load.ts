/**
 * Load generator for bench:coap, run as its own process so it never shares an event loop with the
 * server under test. N concurrent downloads, each from its own UDP socket (its own CoAP endpoint),
 * sequential confirmable Block2 GETs (NSTART = 1) from block 0 to the end, 1 s retransmission.
 * Requests are built by hand and replies read minimally, so the client costs little per block.
 *
 * argv: <port> <szx> <concurrency> <repeats> <path>[,<path>...]   (path i % n is used by download i;
 *       each of the `concurrency` clients downloads the whole patch `repeats` times in a row)
 * stdout: one JSON line {blocks, bytes, ms, retransmissions, failed, downloads}
 */
import dgram from 'node:dgram';

const [portArg, szxArg, concArg, repArg, pathsArg] = process.argv.slice(2);
const repeats = Number(repArg);
const port = Number(portArg);
const szx = Number(szxArg);
const concurrency = Number(concArg);
const paths = (pathsArg ?? '').split(',');
const expectSize = Number(process.env.EXPECT_SIZE ?? 0);

function request(path: string, mid: number, num: number): Buffer {
  const parts: number[] = [0x40, 0x01, mid >> 8, mid & 0xff];
  let last = 0;
  const opt = (n: number, v: Buffer) => {
    const d = n - last;
    last = n;
    const len = v.length;
    const nib = (x: number) => (x < 13 ? x : x < 269 ? 13 : 14);
    parts.push((nib(d) << 4) | nib(len));
    if (d >= 13 && d < 269) parts.push(d - 13);
    if (len >= 13 && len < 269) parts.push(len - 13);
    parts.push(...v);
  };
  for (const seg of path.split('/')) opt(11, Buffer.from(seg));
  const v = (num << 4) | szx;
  opt(23, v < 0x100 ? Buffer.from([v]) : v < 0x10000 ? Buffer.from([v >> 8, v & 0xff]) : Buffer.from([v >> 16, (v >> 8) & 0xff, v & 0xff]));
  return Buffer.from(parts);
}

/** Returns [code, more, payloadLength] of a piggybacked reply. */
function readReply(b: Buffer): { mid: number; code: number; more: boolean; payload: number } | undefined {
  if (b.length < 4) return undefined;
  const tkl = b[0]! & 0x0f;
  let i = 4 + tkl;
  let num = 0;
  let more = false;
  while (i < b.length && b[i] !== 0xff) {
    let d = b[i]! >> 4;
    let l = b[i]! & 0x0f;
    i++;
    if (d === 13) d = b[i++]! + 13;
    else if (d === 14) { d = b.readUInt16BE(i) + 269; i += 2; }
    if (l === 13) l = b[i++]! + 13;
    else if (l === 14) { l = b.readUInt16BE(i) + 269; i += 2; }
    num += d;
    if (num === 23) {
      let v = 0;
      for (let k = 0; k < l; k++) v = (v << 8) | b[i + k]!;
      more = (v & 8) !== 0;
    }
    i += l;
  }
  return { mid: b.readUInt16BE(2), code: b[1]!, more, payload: i < b.length ? b.length - i - 1 : 0 };
}

let blocks = 0;
let bytes = 0;
let retransmissions = 0;
let failed = 0;

async function client(path: string): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const st = { mid: Math.floor(Math.random() * 0xffff) };
  for (let i = 0; i < repeats; i++) await download(sock, path, st);
  sock.close();
}

async function download(sock: dgram.Socket, path: string, st: { mid: number }): Promise<void> {
  let num = 0;
  let got = 0;
  await new Promise<void>((done) => {
    let timer: NodeJS.Timeout;
    let tries = 0;
    let req: Buffer;
    const send = () => {
      if (tries++ > 6) {
        failed++;
        sock.off('message', onMessage);
        done();
        return;
      }
      if (tries > 1) retransmissions++;
      sock.send(req, port, '127.0.0.1');
      timer = setTimeout(send, 1000);
    };
    const next = () => {
      st.mid = (st.mid + 1) & 0xffff;
      req = request(path, st.mid, num);
      tries = 0;
      send();
    };
    const onMessage = (b: Buffer) => {
      const r = readReply(b);
      if (!r || r.mid !== st.mid) return;
      clearTimeout(timer);
      if (r.code !== 0x45) {
        failed++;
        sock.off('message', onMessage);
        done();
        return;
      }
      blocks++;
      bytes += r.payload;
      got += r.payload;
      num++;
      if (r.more) next();
      else {
        sock.off('message', onMessage);
        done();
      }
    };
    sock.on('message', onMessage);
    next();
  });
  if (expectSize && got !== expectSize) failed++;
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, (_, i) => client(paths[i % paths.length]!)));
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ blocks, bytes, ms, retransmissions, failed, downloads: concurrency * repeats }) + '\n');
