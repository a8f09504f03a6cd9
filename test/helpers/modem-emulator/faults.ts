/** Named misbehaviours the emulated modem can show, each applying to the next matching command(s). */
export type CommandFault =
  | { kind: 'cme'; match: RegExp; code: number; times: number }
  | { kind: 'delay'; match: RegExp; ms: number; times: number }
  | { kind: 'swallow'; match: RegExp; times: number }
  | { kind: 'garbage-before'; match: RegExp; times: number };

export class FaultBook {
  private faults: CommandFault[] = [];
  private urcDrops = new Map<string, number>();
  /** What was injected and when it fired, for tests and the emulator's log. */
  readonly fired: string[] = [];

  add(f: CommandFault): void {
    this.faults.push(f);
  }

  /** The fault for this command, if any; consumes one use. */
  take(command: string): CommandFault | undefined {
    const f = this.faults.find((x) => x.times > 0 && x.match.test(command));
    if (!f) return undefined;
    f.times--;
    this.faults = this.faults.filter((x) => x.times > 0);
    this.fired.push(`${f.kind} ${command}`);
    return f;
  }

  dropUrcs(kind: string, count: number): void {
    this.urcDrops.set(kind, (this.urcDrops.get(kind) ?? 0) + count);
  }

  /** True if this URC (by kind: recv, cereg, closed, pdpdeact, ip, qiopen) must be dropped. */
  shouldDrop(kind: string): boolean {
    const n = this.urcDrops.get(kind) ?? 0;
    if (n <= 0) return false;
    this.urcDrops.set(kind, n - 1);
    this.fired.push(`drop-urc ${kind}`);
    return true;
  }
}

export function toMatcher(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) return pattern;
  return new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
}
