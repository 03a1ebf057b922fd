/**
 * Test fixture: a throwaway "agent" process that starts a core through the controller and then
 * idles, so a test can SIGKILL it and see what the next agent makes of the core left behind.
 *   node --import tsx run-controller.fixture.ts <dataDir> <binary> '<config json>'
 */
import pino from 'pino';
import { ProxyCoreController } from '../proxy-core/controller.ts';

const [dir, binary, config] = process.argv.slice(2);
const ctl = new ProxyCoreController({ flavour: 'v2ray', binary: binary!, dir: dir!, logger: pino({ level: 'silent' }) });
await ctl.apply(JSON.parse(config!));
process.stdout.write(`${ctl.pid}\n`);
setInterval(() => {}, 1_000);
