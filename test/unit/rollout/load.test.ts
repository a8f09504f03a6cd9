import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.ts';
import { loadRolloutFile } from '../../../src/rollout/load.ts';
import { patchesTableLookup, planRollout } from '../../../src/rollout/plan.ts';
import { scheduleConfigSchema } from '../../../src/schedule/config.ts';
import { fleet, type Fleet } from './fixture.ts';

let f: Fleet | undefined;
afterEach(() => f?.close());

function plan(f: Fleet, file: string) {
  const spec = loadRolloutFile(file);
  return planRollout(spec, { file, text: readFileSync(file, 'utf8') }, f.db, { schedule: scheduleConfigSchema.parse({}), patches: patchesTableLookup(f.db), now: f.clock.now() });
}

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('rollout YAML', () => {
  it('reports every problem at its line and column', () => {
    f = fleet(3);
    const file = f.write(
      'bad.yaml',
      ['release:', '  product: soil-probe', '  version: 2.0.0', 'waves:', '  - size: 10%', '    soak: two hours', '  - size: rest', '    sok: 1h', 'priority: high', ''].join('\n'),
    );
    const got = issues(() => loadRolloutFile(file));
    expect(got).toEqual([
      expect.stringMatching(/^6:11 waves\.0\.soak: expected a duration like 90s/),
      expect.stringMatching(/^8:5 waves\.1\.sok: unknown key "sok" \(did you mean "soak"\?\)/),
      '9:11 priority: expected number, got string "high"',
    ]);
  });

  it('reports YAML syntax errors at file:line:col', () => {
    f = fleet(1);
    const file = f.write('syntax.yaml', 'release:\n  product: soil-probe\n  version: [2.0.0\nwaves: []\n');
    const err = (() => {
      try {
        loadRolloutFile(file);
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain(`${file}:`);
    expect(err!.issues[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('refuses a rollout file whose aliases expand without bound, as a positioned problem', () => {
    f = fleet(1);
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]', ''].join('\n');
    const file = f.write('bomb.yaml', bomb);
    expect(issues(() => loadRolloutFile(file))).toEqual([expect.stringMatching(/^1:1 : cannot expand the document/)]);
  });

  it('refuses "rest" before the last wave and percentages over 100', () => {
    f = fleet(1);
    const file = f.write('pct.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nwaves:\n  - size: rest\n  - size: 60%\n  - size: 50%\n');
    const got = issues(() => loadRolloutFile(file));
    expect(got.join('\n')).toMatch(/3:11 waves\.0\.size: "rest" may only be the size of the last wave/);
    expect(got.join('\n')).toMatch(/waves: wave percentages add up to 110%/);
  });

  it('takes the id from the file name when none is given', () => {
    f = fleet(1);
    const file = f.write('soil-probe-2.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nwaves: [{ size: rest }]\n');
    expect(loadRolloutFile(file).id).toBe('soil-probe-2');
  });
});

describe('rollout plan refusals', () => {
  it('refuses an unknown release and lists the known versions, at the version line', () => {
    f = fleet(5);
    const file = f.write('r.yaml', 'release:\n  product: soil-probe\n  version: 9.9.9\nwaves: [{ size: rest }]\n');
    expect(issues(() => plan(f!, file))).toEqual(['3:12 release.version: unknown release soil-probe 9.9.9; known versions: 1.0.0, 2.0.0']);
  });

  it('refuses a selector that selects nothing', () => {
    f = fleet(5);
    const file = f.write('r.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nselect:\n  labels: { farm: west }\nwaves: [{ size: rest }]\n');
    expect(issues(() => plan(f!, file))[0]).toMatch(/^3:3 select: the selector matches no devices \(5 soil-probe devices known\)/);
  });

  it('refuses wave sizes that do not add up, pointing at the waves', () => {
    f = fleet(10);
    const file = f.write('r.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nwaves:\n  - size: 2\n  - size: 5\n');
    expect(issues(() => plan(f!, file))[0]).toMatch(/^3:3 waves: waves cover 7 of the 10 selected devices \(3 left out\)/);
    const file2 = f.write('r2.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nwaves:\n  - size: 20\n  - size: rest\n');
    expect(issues(() => plan(f!, file2))[0]).toMatch(/^4:11 waves\.1\.size: waves before "rest" take 20 devices but the selector matches 10/);
  });

  it('plans devices per wave, sources and bytes', () => {
    f = fleet(40);
    const file = f.write('r.yaml', 'release: { product: soil-probe, version: 2.0.0 }\nselect: { labels: { farm: north } }\nwaves:\n  - { name: canary, size: 2 }\n  - { size: 50% }\n  - { size: rest }\n');
    const p = plan(f, file);
    expect(p.selected).toBe(20);
    expect(p.waves.map((w) => w.deviceIds.length)).toEqual([2, 10, 8]);
    expect(p.sources).toEqual([{ fromSha256: f.v1, fromVersion: '1.0.0', devices: 20, choice: { kind: 'full', size: 400_000, built: false } }]);
    expect(p.totalBytes).toBe(20 * 400_000);
    expect(p.diff[0]).toMatch(/^\+ rollout r will be created \(20 devices in 3 waves\)/);
  });
});
