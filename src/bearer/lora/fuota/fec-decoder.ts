import { bitIsSet, matrixLine } from './parity-matrix.ts';

/**
 * The device side of TS004 FEC, written the way it runs on a microcontroller: fragments go straight
 * to their slot in flash (the patch buffer), and RAM holds only bitmaps, the lost-fragment list and an
 * upper-triangular bit matrix over the lost fragments. A coded fragment is reduced against the rows
 * already held (Gaussian elimination, XOR only); its data goes to the flash slot of its pivot's lost
 * fragment, so no fragment-sized data is kept in RAM beyond two working buffers. When the rank equals
 * the number of lost fragments, back-substitution rewrites those slots with the real data.
 *
 * RAM (bytes), with M fragments of size F and room for L lost fragments:
 *   2·⌈M/8⌉ (received bitmap, matrix line) + 2·L (lost index list) + ⌈L(L+1)/16⌉ (triangle)
 *   + 3·⌈L/8⌉ (pivot bitmap, two row buffers) + 2·F (data buffers)        — see fecDecoderRamBytes().
 */
export interface FragmentFlash {
  read(index: number, out: Uint8Array): void;
  write(index: number, data: Uint8Array): void;
}

export function fecDecoderRamBytes(nbFrag: number, fragSize: number, maxLost: number): number {
  const mBytes = (nbFrag + 7) >> 3;
  const lBytes = (maxLost + 7) >> 3;
  return 2 * mBytes + 2 * maxLost + ((maxLost * (maxLost + 1) + 15) >> 4) + 3 * lBytes + 2 * fragSize;
}

export type DecoderState = 'receiving' | 'decoding' | 'overflow' | 'complete';

export class FecDecoder {
  private readonly received: Uint8Array;
  private readonly line: Uint8Array;
  private readonly lostIdx: Uint16Array;
  private readonly triangle: Uint8Array;
  private readonly pivot: Uint8Array;
  private readonly rowA: Uint8Array;
  private readonly rowB: Uint8Array;
  private readonly dataA: Uint8Array;
  private readonly dataB: Uint8Array;
  private receivedCount = 0;
  private lost = 0;
  private rank = 0;
  private codedSeen = false;
  state: DecoderState = 'receiving';

  constructor(
    readonly nbFrag: number,
    readonly fragSize: number,
    readonly maxLost: number,
    private readonly flash: FragmentFlash,
  ) {
    if (nbFrag < 1 || nbFrag > 0x3fff) throw new RangeError(`nbFrag ${nbFrag} is outside 1..16383`);
    if (maxLost > 0xffff) throw new RangeError(`maxLost ${maxLost} exceeds the 16-bit lost index`);
    const mBytes = (nbFrag + 7) >> 3;
    const lBytes = (maxLost + 7) >> 3;
    this.received = new Uint8Array(mBytes);
    this.line = new Uint8Array(mBytes);
    this.lostIdx = new Uint16Array(maxLost);
    this.triangle = new Uint8Array((maxLost * (maxLost + 1) + 15) >> 4);
    this.pivot = new Uint8Array(lBytes);
    this.rowA = new Uint8Array(lBytes);
    this.rowB = new Uint8Array(lBytes);
    this.dataA = new Uint8Array(fragSize);
    this.dataB = new Uint8Array(fragSize);
  }

  /** Bytes of RAM this decoder allocated (its typed arrays); equals fecDecoderRamBytes(). */
  get ramBytes(): number {
    return [this.received, this.line, this.lostIdx, this.triangle, this.pivot, this.rowA, this.rowB, this.dataA, this.dataB].reduce((s, a) => s + a.byteLength, 0);
  }

  get complete(): boolean {
    return this.state === 'complete';
  }

  get fragmentsReceived(): number {
    return this.receivedCount;
  }

  /** Fragments whose data is not known yet (TS004 FragSessionStatusAns.MissingFrag before saturation). */
  get missing(): number {
    if (this.state === 'complete') return 0;
    if (this.state === 'decoding') return this.lost - this.rank;
    return this.nbFrag - this.receivedCount;
  }

  /**
   * Feeds DataFragment number n (1-based). Uncoded fragments are n ≤ nbFrag. Returns true once the
   * whole block is known.
   */
  push(n: number, payload: Uint8Array): boolean {
    if (this.state === 'complete') return true;
    if (payload.length !== this.fragSize) throw new RangeError(`fragment ${n} has ${payload.length} bytes, the session's FragSize is ${this.fragSize}`);
    if (n <= this.nbFrag) this.pushUncoded(n - 1, payload);
    else this.pushCoded(n - this.nbFrag, payload);
    return this.complete;
  }

  /**
   * Fragment indices (0-based) that, sent again uncoded, complete the block with the fewest frames:
   * lost fragments whose column has no pivot row yet (each such fragment raises the rank by one).
   */
  repairList(): number[] {
    const out: number[] = [];
    if (this.state === 'complete') return out;
    if (this.state === 'decoding') {
      for (let p = 0; p < this.lost; p++) if (!bitIsSet(this.pivot, p)) out.push(this.lostIdx[p]!);
      return out;
    }
    for (let i = 0; i < this.nbFrag; i++) if (!bitIsSet(this.received, i)) out.push(i);
    return out;
  }

  private markReceived(i: number): void {
    this.received[i >> 3]! |= 1 << (i & 7);
    this.receivedCount++;
    if (this.receivedCount === this.nbFrag) this.state = 'complete';
  }

  private pushUncoded(i: number, payload: Uint8Array): void {
    if (bitIsSet(this.received, i)) return;
    if (this.state !== 'decoding') {
      this.flash.write(i, payload);
      this.markReceived(i);
      return;
    }
    // A late uncoded fragment (unicast repair) is the unit row of its lost column.
    const p = this.lostPosition(i);
    if (p < 0) return;
    this.rowA.fill(0);
    this.rowA[p >> 3]! |= 1 << (p & 7);
    this.dataA.set(payload);
    this.eliminate();
  }

  private pushCoded(n: number, payload: Uint8Array): void {
    if (!this.codedSeen) this.enterDecoding();
    if (this.state !== 'decoding') return;
    matrixLine(n, this.nbFrag, this.line);
    this.rowA.fill(0);
    this.dataA.set(payload);
    let any = false;
    for (let j = 0; j < this.nbFrag; j++) {
      if (!bitIsSet(this.line, j)) continue;
      if (bitIsSet(this.received, j)) {
        this.flash.read(j, this.dataB);
        xorInto(this.dataA, this.dataB);
      } else {
        const p = this.lostPosition(j);
        this.rowA[p >> 3]! |= 1 << (p & 7);
        any = true;
      }
    }
    if (any) this.eliminate();
  }

  /** Freezes the lost list at the first coded fragment; uncoded ones are all sent before any coded. */
  private enterDecoding(): void {
    this.codedSeen = true;
    if (this.state === 'complete') return;
    const lost = this.nbFrag - this.receivedCount;
    if (lost > this.maxLost) {
      this.state = 'overflow';
      return;
    }
    let k = 0;
    for (let i = 0; i < this.nbFrag; i++) if (!bitIsSet(this.received, i)) this.lostIdx[k++] = i;
    this.lost = lost;
    this.state = 'decoding';
  }

  private lostPosition(i: number): number {
    let lo = 0;
    let hi = this.lost - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.lostIdx[mid]!;
      if (v === i) return mid;
      if (v < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private triBit(p: number, q: number): number {
    const L = this.maxLost;
    return p * L - ((p * (p - 1)) >> 1) + (q - p);
  }

  private loadRow(p: number, into: Uint8Array): void {
    into.fill(0);
    for (let q = p; q < this.lost; q++) {
      const b = this.triBit(p, q);
      if ((this.triangle[b >> 3]! >> (b & 7)) & 1) into[q >> 3]! |= 1 << (q & 7);
    }
  }

  private storeRow(p: number, row: Uint8Array): void {
    for (let q = p; q < this.lost; q++) {
      const b = this.triBit(p, q);
      if (bitIsSet(row, q)) this.triangle[b >> 3]! |= 1 << (b & 7);
      else this.triangle[b >> 3]! &= ~(1 << (b & 7));
    }
  }

  private eliminate(): void {
    for (;;) {
      const p = lowestBit(this.rowA, this.lost);
      if (p < 0) return; // linearly dependent on rows already held: no new information
      if (bitIsSet(this.pivot, p)) {
        this.loadRow(p, this.rowB);
        for (let k = 0; k < this.rowA.length; k++) this.rowA[k]! ^= this.rowB[k]!;
        this.flash.read(this.lostIdx[p]!, this.dataB);
        xorInto(this.dataA, this.dataB);
        continue;
      }
      this.storeRow(p, this.rowA);
      this.flash.write(this.lostIdx[p]!, this.dataA);
      this.pivot[p >> 3]! |= 1 << (p & 7);
      this.rank++;
      if (this.rank === this.lost) this.backSubstitute();
      return;
    }
  }

  private backSubstitute(): void {
    for (let p = this.lost - 1; p >= 0; p--) {
      this.loadRow(p, this.rowB);
      this.flash.read(this.lostIdx[p]!, this.dataA);
      for (let q = p + 1; q < this.lost; q++) {
        if (!bitIsSet(this.rowB, q)) continue;
        this.flash.read(this.lostIdx[q]!, this.dataB);
        xorInto(this.dataA, this.dataB);
      }
      this.flash.write(this.lostIdx[p]!, this.dataA);
    }
    for (let p = 0; p < this.lost; p++) this.markReceived(this.lostIdx[p]!);
  }
}

/** a ^= b, a word at a time where both are 4-byte aligned (as a C decoder would with uint32_t). */
function xorInto(a: Uint8Array, b: Uint8Array): void {
  const words = a.length >> 2;
  if (words > 0 && (a.byteOffset & 3) === 0 && (b.byteOffset & 3) === 0) {
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let k = 0; k < words; k++) wa[k]! ^= wb[k]!;
  } else {
    for (let k = 0; k < words << 2; k++) a[k]! ^= b[k]!;
  }
  for (let k = words << 2; k < a.length; k++) a[k]! ^= b[k]!;
}

function lowestBit(row: Uint8Array, limit: number): number {
  for (let k = 0; k < row.length; k++) {
    const v = row[k]!;
    if (v === 0) continue;
    const bit = (k << 3) + (31 - Math.clz32(v & -v));
    return bit < limit ? bit : -1;
  }
  return -1;
}

/** Flash emulation for tests and the emulator: one slot of fragSize bytes per fragment. */
export class BufferFlash implements FragmentFlash {
  readonly buf: Buffer;
  writes = 0;

  constructor(nbFrag: number, readonly fragSize: number) {
    this.buf = Buffer.alloc(nbFrag * fragSize);
  }

  read(index: number, out: Uint8Array): void {
    out.set(this.buf.subarray(index * this.fragSize, (index + 1) * this.fragSize));
  }

  write(index: number, data: Uint8Array): void {
    this.buf.set(data, index * this.fragSize);
    this.writes++;
  }
}
