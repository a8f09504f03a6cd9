import { ConfigError, type ConfigIssue } from '../config/errors.ts';
import { estimateTransfer } from '../schedule/bearer-model.ts';
import { formatDuration } from '../schedule/units.ts';
import { ceLevel } from '../schedule/cellular.ts';
import type { ScheduleConfig } from '../schedule/config.ts';
import type { Db } from '../store/database.ts';
import { DeviceRepo, type DeviceRow } from '../store/devices.ts';
import { ReleaseRepo, type ReleaseRow } from '../store/releases.ts';
import { PatchRepo } from '../store/patches.ts';
import { RolloutRepo, TERMINAL_STATES, type RolloutRow } from '../store/rollouts.ts';
import { issueAt } from './load.ts';
import { plural } from '../text.ts';
import { selects } from './selector.ts';
import type { RolloutSpec } from './spec.ts';
import { assignWaves, resolveWaveSizes, WaveSizeError } from './waves.ts';

export interface PatchChoice {
  kind: 'delta' | 'full';
  size: number;
  /** False when no patch is built yet: the size is the full image and a patch may come out smaller. */
  built: boolean;
}

export type PatchLookup = (fromSha256: string, toSha256: string) => PatchChoice | undefined;

/**
 * Reads the delta module's `patches` table (the CLI has no running PatchProvider): the patch in the
 * newest format built for the move (devices on older firmware may get a somewhat larger one).
 */
export function patchesTableLookup(db: Db): PatchLookup {
  const repo = new PatchRepo(db);
  return (from, to) => {
    const r = repo.best(from, to, Number.MAX_SAFE_INTEGER);
    return r ? { kind: r.kind, size: r.size, built: true } : undefined;
  };
}

export interface PlanWave {
  index: number;
  name: string;
  size: number;
  soakMs: number;
  deviceIds: string[];
  bytes: number;
}

export interface PlanSource {
  fromSha256: string | null;
  fromVersion: string;
  devices: number;
  choice: PatchChoice;
}

export interface PlanBearer {
  bearer: string;
  devices: number;
  bytes: number;
  wireBytes: number;
  airtimeMs: number;
  /** Time the bearer needs for all of it, alone, at its duty cycle / slot limits. */
  durationMs: number;
}

export interface RolloutPlan {
  spec: RolloutSpec;
  release: ReleaseRow;
  selected: number;
  alreadyCurrent: number;
  waves: PlanWave[];
  sources: PlanSource[];
  bearers: PlanBearer[];
  totalBytes: number;
  warnings: string[];
  existing: RolloutRow | undefined;
  diff: string[];
  members: Array<{ deviceId: string; wave: number; rank: string }>;
}

/**
 * Everything `rollout plan` shows and `rollout apply` stores, computed before anything changes.
 * Problems that make the rollout impossible are thrown as a ConfigError pointing into the file.
 */
export function planRollout(
  spec: RolloutSpec,
  source: { file: string; text: string },
  db: Db,
  opts: { schedule: ScheduleConfig; patches: PatchLookup; now: number },
): RolloutPlan {
  const releases = new ReleaseRepo(db);
  // What the file asks for does not fit the gateway's state (releases, devices, earlier rollouts):
  // the hint says what to change there, since re-checking the file alone would find nothing.
  const fail = (path: Array<string | number>, message: string, hint = 'change the rollout file and run `furrow rollout plan` again'): never => {
    throw new ConfigError(source.file, [issueAt(source.file, source.text, path, message)], hint);
  };
  const r = spec.release;
  const release = r.sha256 ? releases.get(r.sha256) : releases.byVersion(r.product, r.version!);
  if (!release || release.product !== r.product || (r.version && release.version !== r.version)) {
    const known = releases.list({ product: r.product }).map((x) => x.version);
    fail(['release', r.sha256 ? 'sha256' : 'version'], `unknown release ${r.product} ${r.version ?? r.sha256}; ${known.length ? `known versions: ${known.join(', ')}` : `no releases of ${r.product} yet`}`, 'add the release with `furrow release add <image> --product P --version V` (see `furrow release list`), or name a known one');
  }
  const rel = release!;
  const all = new DeviceRepo(db).list({ product: r.product });
  const matching = all.filter((d) => selects(spec, d));
  const alreadyCurrent = matching.filter((d) => d.runningSha256 === rel.sha256).length;
  const selected = matching.filter((d) => d.runningSha256 !== rel.sha256);
  if (selected.length === 0) {
    fail(
      ['select'],
      matching.length > 0
        ? `${matching.length === 1 ? 'the one selected device already runs' : `all ${matching.length} selected devices already run`} ${r.product} ${rel.version}: nothing to do`
        : `the selector matches no devices (${plural(all.length, `${r.product} device`)} known); check labels, hwRev, runningVersions and devices`,
      matching.length > 0
        ? 'point release at a newer version, or select other devices'
        : 'add devices with `furrow devices add <id> --product P --label k=v --hw-rev R`; runningVersions matches what a device reported at its last check-in (`furrow devices list`, VERSION), so a device that never checked in matches only selectors without runningVersions',
    );
  }
  let sizes: number[] = [];
  try {
    sizes = resolveWaveSizes(spec.waves.map((w) => w.size), selected.length);
  } catch (err) {
    if (!(err instanceof WaveSizeError)) throw err;
    fail(err.wave === null ? ['waves'] : ['waves', err.wave, 'size'], err.message);
  }
  const members = assignWaves(spec.id, selected.map((d) => d.id), sizes);
  const byId = new Map(selected.map((d) => [d.id, d]));
  // A stock LwM2M client (src/lwm2m/LWM2M.md) downloads the full image through Object 5, never a patch.
  const choiceFor = (d: DeviceRow): PatchChoice =>
    d.protocol === 'lwm2m' ? { kind: 'full', size: rel.size, built: true } : ((d.runningSha256 ? opts.patches(d.runningSha256, rel.sha256) : undefined) ?? { kind: 'full', size: rel.size, built: false });

  const waves: PlanWave[] = spec.waves.map((w, i) => ({ index: i, name: w.name ?? (i === 0 ? 'canary' : `wave-${i}`), size: sizes[i]!, soakMs: w.soak, deviceIds: [], bytes: 0 }));
  const sources = new Map<string, PlanSource>();
  const bearers = new Map<string, PlanBearer>();
  for (const m of members) {
    const d = byId.get(m.deviceId)!;
    const choice = choiceFor(d);
    waves[m.wave]!.deviceIds.push(d.id);
    waves[m.wave]!.bytes += choice.size;
    const key = `${d.protocol}|${d.runningSha256 ?? 'unknown'}`;
    const s = sources.get(key) ?? { fromSha256: d.runningSha256, fromVersion: `${d.runningVersion ?? '?'}${d.protocol === 'lwm2m' ? ' (LwM2M Object 5)' : ''}`, devices: 0, choice };
    s.devices++;
    sources.set(key, s);
    const bearer = d.bearer ?? 'unknown';
    const b = bearers.get(bearer) ?? { bearer, devices: 0, bytes: 0, wireBytes: 0, airtimeMs: 0, durationMs: 0 };
    const model = opts.schedule.bearers[bearer];
    const est = estimateTransfer(model, choice.size, ceLevel({ rsrp: d.rsrp, snr: d.snr }));
    b.devices++;
    b.bytes += choice.size;
    b.wireBytes += est.wireBytes;
    b.airtimeMs += est.airtimeMs;
    // LoRa transfers share one channel: their duty-cycle-paced times add up. Cellular transfers run
    // side by side in the cell's slots (CE1 cap as the middle case).
    const parallel = !model || model.kind === 'lora' ? 1 : model.kind === 'udp' ? 64 : model.maxConcurrent.ce1;
    b.durationMs += est.durationMs / parallel;
    bearers.set(bearer, b);
  }
  const totalBytes = waves.reduce((a, w) => a + w.bytes, 0);
  const warnings: string[] = [];
  if (spec.budget !== undefined && totalBytes > spec.budget) warnings.push(`the rollout needs ${totalBytes} bytes but its budget is ${spec.budget}: it will pause when the budget is spent`);
  for (const s of sources.values()) if (!s.choice.built) warnings.push(`no patch from ${s.fromVersion} yet: counted as the full image (${s.choice.size} bytes); the gateway builds one on first check-in`);
  if (spec.deadline) {
    const longest = Math.max(0, ...[...bearers.values()].map((b) => b.durationMs)) + spec.waves.reduce((a, w) => a + w.soak, 0);
    if (opts.now + longest > Date.parse(spec.deadline)) warnings.push(`at the estimated pace the rollout ends after its deadline ${spec.deadline}`);
  }
  const repo = new RolloutRepo(db);
  const existing = repo.get(spec.id);
  if (existing && TERMINAL_STATES.includes(existing.state)) {
    fail(['id'], `rollout ${spec.id} already ended (${existing.state}); give the new rollout another id`);
  }
  const diff = existing ? diffAgainst(repo, existing, spec, rel, members) : [`+ rollout ${spec.id} will be created (${plural(selected.length, 'device')} in ${plural(waves.length, 'wave')})`];
  return { spec, release: rel, selected: selected.length, alreadyCurrent, waves, sources: [...sources.values()], bearers: [...bearers.values()], totalBytes, warnings, existing, diff, members };
}

function diffAgainst(repo: RolloutRepo, existing: RolloutRow, spec: RolloutSpec, rel: ReleaseRow, members: RolloutPlan['members']): string[] {
  const out = [`~ rollout ${spec.id} (${existing.state}, wave ${existing.currentWave}) will be updated in place`];
  const old = existing.spec as Record<string, unknown>;
  const now = spec as unknown as Record<string, unknown>;
  if (existing.releaseSha256 !== rel.sha256) out.push(`    ~ release: ${existing.releaseSha256.slice(0, 12)} → ${rel.sha256.slice(0, 12)} (${rel.version})`);
  for (const key of new Set([...Object.keys(old), ...Object.keys(now)])) {
    if (key === 'waveSizes' || key === 'source') continue;
    diffValue(key, old[key], now[key], out);
  }
  const current = new Map(repo.members(existing.id).map((m) => [m.deviceId, m]));
  let joins = 0;
  let moves = 0;
  let pinned = 0;
  for (const m of members) {
    const c = current.get(m.deviceId);
    if (!c) joins++;
    else if (c.wave !== m.wave) (c.state === 'pending' ? moves++ : pinned++);
    current.delete(m.deviceId);
  }
  const leaves = [...current.values()].filter((m) => m.state === 'pending').length;
  if (joins) out.push(`    + ${plural(joins, 'device')} ${joins === 1 ? 'joins' : 'join'}`);
  if (leaves) out.push(`    - ${plural(leaves, 'pending device')} ${leaves === 1 ? 'leaves' : 'leave'}`);
  if (moves) out.push(`    ~ ${plural(moves, 'pending device')} ${moves === 1 ? 'changes' : 'change'} wave`);
  if (pinned) out.push(`    = ${plural(pinned, 'device')} already under way ${pinned === 1 ? 'keeps its' : 'keep their'} wave`);
  if (out.length === 1) out.push('    (no changes)');
  return out;
}

function show(v: unknown, key: string): string {
  if (v === undefined) return '(unset)';
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if ('count' in o) return String(o.count);
    if ('percent' in o) return `${String(o.percent)}%`;
    if ('rest' in o) return 'rest';
  }
  if (typeof v === 'number' && key === 'soak') return formatDuration(v);
  return JSON.stringify(v);
}

/** Terraform-style leaf changes: `waves[1].size: 25% → 50%`. */
function diffValue(path: string, a: unknown, b: unknown, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const leafKey = path.replace(/.*[.\]]/, '').replace(/\[.*/, '');
  const isSize = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && ['count', 'percent', 'rest'].some((k) => k in (v as object));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !isSize(a) && !isSize(b)) {
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (i >= a.length) out.push(`    + ${path}[${i}]: ${JSON.stringify(b[i])}`);
        else if (i >= b.length) out.push(`    - ${path}[${i}]: ${JSON.stringify(a[i])}`);
        else diffValue(`${path}[${i}]`, a[i], b[i], out);
      }
      return;
    }
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ao), ...Object.keys(bo)])) diffValue(`${path}.${k}`, ao[k], bo[k], out);
    return;
  }
  out.push(`    ~ ${path}: ${show(a, leafKey)} → ${show(b, leafKey)}`);
}

/** Stores the plan: creates the rollout or updates it in place (devices under way keep their wave). */
export function applyPlan(db: Db, plan: RolloutPlan, file: string, now: number): void {
  const repo = new RolloutRepo(db);
  repo.save(
    {
      id: plan.spec.id,
      releaseSha256: plan.release.sha256,
      spec: { ...plan.spec, waveSizes: plan.waves.map((w) => w.size), source: file },
      waves: plan.waves.map((w) => ({ name: w.name, size: w.size })),
      members: plan.members,
    },
    now,
    plan.existing !== undefined,
  );
}

export type { ConfigIssue };
