/** MSB-first bit packing, as SCHC lays out its compression residue (RFC 8724 §7.2). */
export class BitWriter {
  private bytes: number[] = [];
  private bitLen = 0;

  get length(): number {
    return this.bitLen;
  }

  write(value: number, bits: number): void {
    if (bits > 32) throw new RangeError(`cannot write ${bits} bits at once (max 32)`);
    for (let i = bits - 1; i >= 0; i--) this.writeBit(Math.floor(value / 2 ** i) & 1);
  }

  writeBytes(buf: Uint8Array): void {
    if (this.bitLen % 8 === 0) {
      for (const b of buf) this.bytes.push(b);
      this.bitLen += buf.length * 8;
      return;
    }
    for (const b of buf) this.write(b, 8);
  }

  private writeBit(bit: number): void {
    const idx = this.bitLen >> 3;
    if (idx === this.bytes.length) this.bytes.push(0);
    if (bit) this.bytes[idx] = (this.bytes[idx] ?? 0) | (0x80 >> (this.bitLen & 7));
    this.bitLen++;
  }

  /** Padded with zero bits to the byte boundary (LoRaWAN's L2 word is one byte, RFC 9011 §5.3). */
  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

export class BitReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length * 8 - this.pos;
  }

  read(bits: number): number {
    if (bits > this.remaining) throw new RangeError(`needs ${bits} bits but only ${this.remaining} remain`);
    let v = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.buf[this.pos >> 3] ?? 0;
      v = v * 2 + ((byte >> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return v;
  }

  readBytes(n: number): Buffer {
    if (n * 8 > this.remaining) throw new RangeError(`needs ${n} bytes but only ${this.remaining} bits remain`);
    if ((this.pos & 7) === 0) {
      const out = Buffer.from(this.buf.subarray(this.pos >> 3, (this.pos >> 3) + n));
      this.pos += n * 8;
      return out;
    }
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.read(8);
    return out;
  }
}
