/**
 * A UDP relay that drops a share of the datagrams in each direction (the radio link's loss, the only
 * thing mocked): clients talk to `port`, each client address gets its own upstream socket to the server,
 * so the server sees one peer per client socket as it would behind a NAT.
 */
import { createSocket, type Socket } from 'node:dgram';

export class LossyProxy {
  readonly stats = { up: 0, down: 0, droppedUp: 0, droppedDown: 0, bytesUp: 0, bytesDown: 0 };
  private readonly front: Socket = createSocket('udp4');
  private readonly upstream = new Map<string, Socket>();
  private seed: number;

  private constructor(
    /** Where datagrams go; may be set after start (the server port is often chosen later). */
    public serverPort: number,
    private readonly loss: number,
    seed: number,
  ) {
    this.seed = seed;
  }

  /** Deterministic (mulberry32), so a failing run can be replayed with the same seed. */
  private random(): number {
    let t = (this.seed += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  static async start(serverPort: number, loss: number, seed = 1): Promise<LossyProxy> {
    const p = new LossyProxy(serverPort, loss, seed);
    await new Promise<void>((r) => p.front.bind(0, '127.0.0.1', () => r()));
    p.front.on('message', (msg, rinfo) => p.fromClient(msg, rinfo.address, rinfo.port));
    return p;
  }

  get port(): number {
    return this.front.address().port;
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    const key = `${address}:${port}`;
    let up = this.upstream.get(key);
    if (!up) {
      up = createSocket('udp4');
      up.bind(0, '127.0.0.1');
      up.on('message', (m) => {
        this.stats.down++;
        this.stats.bytesDown += m.length;
        if (this.random() < this.loss) this.stats.droppedDown++;
        else this.front.send(m, port, address);
      });
      this.upstream.set(key, up);
    }
    this.stats.up++;
    this.stats.bytesUp += msg.length;
    if (this.random() < this.loss) this.stats.droppedUp++;
    else up.send(msg, this.serverPort, '127.0.0.1');
  }

  close(): void {
    for (const s of this.upstream.values()) s.close();
    this.front.close();
  }
}
