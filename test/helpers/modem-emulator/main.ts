/**
 * Runnable modem emulator for field-debug rehearsals and manual testing:
 *
 *   npx tsx test/helpers/modem-emulator/main.ts --model bg96 --link /tmp/furrow-modem
 *
 * then point furrow at it (modem: { port: /tmp/furrow-modem }) and type faults on stdin:
 *   garbage | cme <AT-prefix> <code> | delay <AT-prefix> <ms> | drop-ok <AT-prefix> | drop-urc <kind> [n]
 *   reg-loss <ms> | vanish <ms> | reboot | sockets | signal <rsrp> <rsrq> <sinr> | quit
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ModemEmulator, type EmulatedModel } from './emulator.ts';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'bg96' }, link: { type: 'string', default: '/tmp/furrow-modem' } },
});
const model = values.model as EmulatedModel;
if (model !== 'bc66' && model !== 'bg96') {
  process.stderr.write(`--model must be bc66 or bg96, got "${values.model}"\n`);
  process.exit(2);
}
const emu = new ModemEmulator({ model, link: values.link!, log: (l) => process.stdout.write(`[emu] ${l}\n`) });
await emu.start();
process.stdout.write(`ready ${model} on ${emu.link}\n`);

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [verb, a, b] = line.trim().split(/\s+/);
  try {
    switch (verb) {
      case 'garbage': emu.injectGarbage(); break;
      case 'cme': emu.failNext(a!, Number(b)); break;
      case 'delay': emu.delayNext(a!, Number(b)); break;
      case 'drop-ok': emu.swallowNext(a!); break;
      case 'drop-urc': emu.dropUrcs(a as 'recv', Number(b ?? 1)); break;
      case 'reg-loss': emu.loseRegistration(Number(a)); break;
      case 'vanish': void emu.vanish(Number(a)); break;
      case 'reboot': emu.reboot(); break;
      case 'sockets': for (const id of emu.sockets.keys()) process.stdout.write(`socket ${id} ${JSON.stringify(emu.socketAddress(id))}\n`); break;
      case 'signal': Object.assign(emu.signal, { rsrp: Number(a), rsrq: Number(b) }); break;
      case 'quit': void emu.stop().then(() => process.exit(0)); break;
      case '': break;
      default: process.stdout.write(`unknown command "${verb}"\n`);
    }
  } catch (err) {
    process.stdout.write(`error: ${(err as Error).message}\n`);
  }
});
const quit = () => void emu.stop().then(() => process.exit(0));
process.on('SIGINT', quit);
process.on('SIGTERM', quit);
