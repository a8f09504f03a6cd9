/**
 * furrow repair request (uplink on lora.multicast.repairFPort): after a multicast session a device that
 * still misses fragments names exactly those (the columns its FEC matrix lacks, FecDecoder.repairList),
 * and the gateway resends them as unicast TS004 DataFragments. Layout: FragIndex (1 byte), then ranges
 * of fragment numbers N, each `first N (u16 LE), count (u8)`.
 */
export class RepairError extends Error {}

export interface RepairRequest {
  fragIndex: number;
  /** Fragment numbers N (1-based), ascending. */
  fragments: number[];
}

/** Encodes as many of `fragments` (sorted) as fit `maxBytes`; returns the frame and how many it holds. */
export function encodeRepairRequest(fragIndex: number, fragments: number[], maxBytes: number): { frame: Buffer; count: number } {
  const out: number[] = [fragIndex & 3];
  let count = 0;
  let i = 0;
  while (i < fragments.length && out.length + 3 <= maxBytes) {
    const first = fragments[i]!;
    let n = 1;
    while (i + n < fragments.length && fragments[i + n] === first + n && n < 255) n++;
    out.push(first & 0xff, first >> 8, n);
    count += n;
    i += n;
  }
  return { frame: Buffer.from(out), count };
}

export function decodeRepairRequest(b: Buffer): RepairRequest {
  if (b.length < 1 || (b.length - 1) % 3 !== 0) throw new RepairError(`repair request of ${b.length} bytes is not 1 + 3·k`);
  const fragments: number[] = [];
  for (let p = 1; p < b.length; p += 3) {
    const first = b.readUInt16LE(p);
    const n = b[p + 2]!;
    if (first === 0 || n === 0 || first + n - 1 > 0x3fff) throw new RepairError(`repair range N=${first} count ${n} is outside 1..16383`);
    for (let k = 0; k < n; k++) fragments.push(first + k);
  }
  return { fragIndex: b[0]! & 3, fragments };
}
