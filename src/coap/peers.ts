/**
 * Per-peer state the message layer keeps: the last few replies (RFC 7252 §4.5 duplicate detection),
 * a token bucket (rate limit), and log throttling. Bounded in both directions: a few replies per
 * peer, and peers idle for EXCHANGE_LIFETIME are swept, so finished transfers leave nothing behind.
 */

/** RFC 7252 §4.8.2 EXCHANGE_LIFETIME with default transmission parameters: 247 s. */
export const EXCHANGE_LIFETIME_MS = 247_000;

export interface PeerLimits {
  /** Sustained requests per second per peer. */
  ratePerSecond: number;
  burst: number;
  /** Replies remembered per peer; a device has one request in flight (NSTART = 1, RFC 7252 §4.7). */
  repliesPerPeer: number;
  maxPeers: number;
}

interface PeerState {
  mids: number[];
  replies: Buffer[];
  next: number;
  tokens: number;
  refillAt: number;
  lastSeen: number;
  warnedAt: number;
  suppressed: number;
}

export class PeerTable {
  private readonly peers = new Map<string, PeerState>();

  constructor(private limits: PeerLimits) {}

  /** New rate limits apply from the next request (config reload). */
  setLimits(limits: PeerLimits): void {
    this.limits = limits;
  }

  get size(): number {
    return this.peers.size;
  }

  private state(key: string, now: number): PeerState {
    let s = this.peers.get(key);
    if (!s) {
      if (this.peers.size >= this.limits.maxPeers) this.evict(now);
      s = { mids: [], replies: [], next: 0, tokens: this.limits.burst, refillAt: now, lastSeen: now, warnedAt: -Infinity, suppressed: 0 };
      this.peers.set(key, s);
    }
    s.lastSeen = now;
    return s;
  }

  /** Token bucket: false when the peer is over its rate. */
  admit(key: string, now: number): boolean {
    const s = this.state(key, now);
    const elapsed = (now - s.refillAt) / 1000;
    s.refillAt = now;
    s.tokens = Math.min(this.limits.burst, s.tokens + elapsed * this.limits.ratePerSecond);
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }

  /** The reply already sent for this message ID, if the request is a duplicate. */
  cachedReply(key: string, mid: number): Buffer | undefined {
    const s = this.peers.get(key);
    if (!s) return undefined;
    const i = s.mids.indexOf(mid);
    return i >= 0 ? s.replies[i] : undefined;
  }

  remember(key: string, mid: number, reply: Buffer, now: number): void {
    const s = this.state(key, now);
    const i = s.mids.indexOf(mid);
    if (i >= 0) {
      s.replies[i] = reply;
      return;
    }
    s.mids[s.next] = mid;
    s.replies[s.next] = reply;
    s.next = (s.next + 1) % this.limits.repliesPerPeer;
  }

  /** Log throttle: true at most every `intervalMs` per peer; counts what was held back. */
  shouldWarn(key: string, now: number, intervalMs = 10_000): { warn: boolean; suppressed: number } {
    const s = this.state(key, now);
    if (now - s.warnedAt < intervalMs) {
      s.suppressed++;
      return { warn: false, suppressed: 0 };
    }
    const suppressed = s.suppressed;
    s.warnedAt = now;
    s.suppressed = 0;
    return { warn: true, suppressed };
  }

  /** Drops peers idle longer than EXCHANGE_LIFETIME: nothing they sent can still be retransmitted. */
  sweep(now: number, idleMs = EXCHANGE_LIFETIME_MS): number {
    let n = 0;
    for (const [k, s] of this.peers) {
      if (now - s.lastSeen > idleMs) {
        this.peers.delete(k);
        n++;
      }
    }
    return n;
  }

  private evict(now: number): void {
    // Under a flood of new addresses, forget the quietest peers first; a real device that loses its
    // dedup entry at worst has one request processed twice, which every handler tolerates.
    if (this.sweep(now, 10_000) > 0) return;
    const target = Math.floor(this.limits.maxPeers * 0.9);
    for (const k of this.peers.keys()) {
      if (this.peers.size <= target) break;
      this.peers.delete(k);
    }
  }

  clear(): void {
    this.peers.clear();
  }
}
