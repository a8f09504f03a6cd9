/**
 * Runs once before the suite: checks the system packages the tests drive for real, so a missing one
 * fails loudly with the package to install instead of a test silently skipping.
 */
import { execFileSync } from 'node:child_process';

const REQUIRED: Array<{ bin: string; pkg: string }> = [
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
  { bin: 'coap-client-notls', pkg: 'libcoap3-bin' }, // CoAP interop tests (test/integration/coap-*)
  { bin: 'coap-server-notls', pkg: 'libcoap3-bin' }, // bench:coap reference server
];

export default function setup(): void {
  const missing = REQUIRED.filter(({ bin }) => {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))].join(' ');
    throw new Error(`tests need system packages: missing ${missing.map((m) => m.bin).join(', ')}; install with: apt-get install -y ${pkgs}`);
  }
}
