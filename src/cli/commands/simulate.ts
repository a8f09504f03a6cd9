import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { runFleet, type BearerPreset } from '../../sim/fleet.ts';
import { progressLine, renderResult } from '../../sim/report.ts';
import { parseBytes } from '../../schedule/units.ts';
import { globalOptions, printJson } from '../context.ts';

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError('BAD_ARGUMENT', `--${name} ${JSON.stringify(v)}: expected an integer ${min}..${max}`);
  return n;
}

function rate(name: string, v: string): number {
  const n = Number(v.replace(/%$/, '')) / (v.endsWith('%') ? 100 : 1);
  if (!(n >= 0 && n <= 1)) throw new InputError('BAD_ARGUMENT', `--${name} ${JSON.stringify(v)}: expected a share 0..1 or a percentage like 30%`);
  return n;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run simulated devices against a real in-process daemon over loopback UDP on a virtual clock, and report time to update, bytes on air and duty-cycle violations')
    .option('-n, --devices <n>', 'number of devices', '200')
    .option('-b, --bearer <model>', 'link model: nbiot or lora-eu868', 'nbiot')
    .option('--patch-size <bytes>', 'patch size (e.g. 4KiB)', '4KiB')
    .option('--waves <list>', 'wave sizes, comma separated (count, NN% or rest)', '10%,30%,rest')
    .option('--soak <duration>', 'soak after each wave', '30m')
    .option('--canary-fail <share>', 'share of the canary whose self-test fails', '0')
    .option('--loss <share>', 'datagram loss each way', '0')
    .option('--power-cuts <share>', 'chance of a power cut before each block', '0')
    .option('--restart-at <share>', 'restart the daemon when this share of devices finished')
    .option('--seed <n>', 'random seed', '1')
    .option('--json', 'print the result as JSON (progress stays on stderr)')
    .addHelpText('after', '\nExamples:\n  $ furrow simulate --devices 200 --canary-fail 30% --restart-at 0.02\n  $ furrow simulate --bearer lora-eu868 --devices 50 --patch-size 1KiB --waves rest')
    .action(async (opts: Record<string, string | undefined>, cmd: Command) => {
      // The simulated daemon runs on its own temporary config and data dir; a config named here would be
      // silently ignored, so it is refused (whether or not the file exists).
      const named = globalOptions(cmd).config;
      if (named !== undefined) {
        throw new InputError('SIMULATE_NO_CONFIG', `--config ${named}: simulate runs its own in-process daemon on a temporary data dir and reads no config file${existsSync(named) ? '' : ` (and ${named} does not exist)`}`, {
          hint: 'drop --config; set the fleet with --devices, --bearer, --patch-size, --waves',
        });
      }
      const bearer = opts.bearer as BearerPreset;
      if (bearer !== 'nbiot' && bearer !== 'lora-eu868') throw new InputError('BAD_ARGUMENT', `--bearer ${JSON.stringify(bearer)}: expected nbiot or lora-eu868`);
      const patchSize = parseBytes(opts.patchSize!);
      if (patchSize === undefined || patchSize < 512 || patchSize > 16 * 1024 * 1024) throw new InputError('BAD_ARGUMENT', `--patch-size ${JSON.stringify(opts.patchSize)}: expected 512 B .. 16 MiB`);
      const sizes = opts.waves!.split(',').map((s) => s.trim());
      const waves = sizes.map((s, i) => ({ ...(i === 0 ? { name: 'canary' } : {}), size: /^\d+$/.test(s) ? Number(s) : s, ...(i < sizes.length - 1 ? { soak: opts.soak! } : {}) }));
      const tty = process.stderr.isTTY;
      let last = 0;
      const result = await runFleet({
        devices: int('devices', opts.devices!, 1, 20_000),
        bearer,
        patchSize,
        waves,
        canaryFailRate: rate('canary-fail', opts.canaryFail!),
        loss: rate('loss', opts.loss!),
        powerCutRate: rate('power-cuts', opts.powerCuts!),
        ...(opts.restartAt !== undefined ? { restartAt: rate('restart-at', opts.restartAt) } : {}),
        seed: int('seed', opts.seed!, 0, 2 ** 31),
        onProgress: (p) => {
          const now = performance.now();
          if (now - last < 500) return;
          last = now;
          process.stderr.write(tty ? `\r${progressLine(p)}` : `${progressLine(p)}\n`);
        },
      });
      if (tty) process.stderr.write('\n');
      if (opts.json) printJson(result);
      else process.stdout.write(renderResult(result, `furrow simulate: ${result.devices} devices on ${bearer}, patch ${patchSize} bytes`));
      if (result.dutyCycleViolations > 0) process.exitCode = 1;
    });
}
