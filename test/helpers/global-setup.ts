/**
 * Runs once before the suite: checks the system packages the tests drive for real and the firmware corpus,
 * so a missing one fails loudly, once, with what to install or run, instead of a test silently skipping or
 * every test that needs it failing on its own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { corpusRefusal } from '../corpus/check.ts';

/** A program on PATH (bin) or, for a library package without one, a file it installs (file). */
const REQUIRED: Array<{ bin: string; pkg: string; file?: string }> = [
  { bin: 'mosquitto', pkg: 'mosquitto' },
  { bin: 'systemd-analyze', pkg: 'systemd' },
  { bin: 'openssl', pkg: 'openssl' }, // test certificates for MQTT over TLS (test/integration/mqtt-tls)
  { bin: 'socat', pkg: 'socat' }, // modem emulator's pty (test/helpers/modem-emulator)
  { bin: 'gcc', pkg: 'gcc' }, // firmware/ host builds (furrow-device, C test drivers)
  { bin: 'make', pkg: 'make' },
  { bin: 'cmake', pkg: 'cmake' }, // builds the interop LwM2M clients (test/helpers/interop.ts: Anjay, Wakaama)
  { bin: 'xz', pkg: 'xz-utils' }, // reference LZMA1 encoder for the C decoder tests
  { bin: 'bzip2', pkg: 'bzip2' }, // delta: reads the control block of bsdiff-node's BSDIFF40 output
  { bin: 'riscv64-unknown-elf-gcc', pkg: 'gcc-riscv64-unknown-elf' }, // firmware size check (ESP32-C3)
  { bin: 'qemu-riscv32', pkg: 'qemu-user' }, // the patch decoder run on rv32 (test/unit/firmware/rv32)
  { bin: 'picolibc', pkg: 'picolibc-riscv64-unknown-elf', file: '/usr/lib/picolibc/riscv64-unknown-elf/include/stdio.h' }, // its libc
  { bin: 'coap-client-notls', pkg: 'libcoap3-bin' }, // CoAP interop tests (test/integration/coap-*)
  { bin: 'coap-server-notls', pkg: 'libcoap3-bin' }, // bench:coap reference server
  { bin: 'curl', pkg: 'curl' }, // stock HTTP clients against the HTTPS server (test/integration/http-*)
  { bin: 'wget', pkg: 'wget' },
  // mbedTLS headers and library for furrow-device-esp (the ESP-IDF port's crypto, firmware/Makefile)
  { bin: 'libmbedtls-dev', file: '/usr/include/mbedtls/ecdsa.h', pkg: 'libmbedtls-dev' },
];

/**
 * Stops the run with one message and nothing else: a thrown error here makes vitest also print "No test
 * files found" and a stack trace into its own internals, which buries what the user has to do.
 */
function refuse(lines: string[]): never {
  process.stderr.write(`\n${lines.join('\n')}\n\n`);
  process.exit(1);
}

const tempEntries = (): Set<string> => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('furrow-')));

/**
 * Teardown guard: names the `furrow-*` entries that appeared in the temp dir during the run, so a test that
 * stops cleaning up is noticed the first time. A warning, not a failure: another process sharing the temp
 * dir (a second run, the daemon) may have made some of them.
 */
function reportTempLeftovers(): () => void {
  const before = tempEntries();
  return () => {
    const left = [...tempEntries()].filter((n) => !before.has(n)).sort();
    if (left.length === 0) return;
    const byPrefix = new Map<string, number>();
    for (const n of left) {
      const prefix = n.replace(/[A-Za-z0-9]{6}$/, '*');
      byPrefix.set(prefix, (byPrefix.get(prefix) ?? 0) + 1);
    }
    const list = [...byPrefix].map(([p, n]) => `${p} ×${n}`).join(', ');
    process.stderr.write(`\nwarning: ${left.length} new furrow-* entries left in ${tmpdir()} during this run (${list}): every test must remove what it creates (test/helpers/tmp.ts)\n`);
  };
}

export default async function setup(): Promise<() => void> {
  const missing = REQUIRED.filter(({ bin, file }) => {
    if (file) return !existsSync(file);
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))].join(' ');
    refuse([`furrow tests need system packages: missing ${missing.map((m) => m.file ?? m.bin).join(', ')}.`, `Install them with: apt-get install -y ${pkgs}`]);
  }
  const corpus = await corpusRefusal();
  if (corpus) refuse(corpus);
  return reportTempLeftovers();
}
