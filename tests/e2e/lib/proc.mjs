// Child processes of a test file: spawned with their output captured, waited
// for with a bound, stopped with SIGTERM then SIGKILL, and never left behind,
// even when the test file itself is killed or fails.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { checkInstall } from './install-check.mjs';

// Every test file imports this module: no peers, no tests (and a clear reason).
checkInstall();

const children = new Set();
const killAll = () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* already gone */ } };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAll(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/* Spawns cmd; child.stderrText() and child.output() (both streams) are kept
 * for diagnostics, the last 8 KB of each. */
export function run(cmd, args, { env = {}, cwd } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const keep = (s) => (s.length > 8192 ? s.slice(-8192) : s);
  child.stdout.on('data', (d) => { out = keep(out + d); });
  child.stderr.on('data', (d) => { err = keep(err + d); out = keep(out + d); });
  child.output = () => out;
  child.stderrText = () => err;
  child.on('error', (e) => { err += `\nspawn ${cmd}: ${e.message}`; });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/* Polls probe() until it returns true, at most `ms`; fails early, with the
 * child's output, when the child dies. */
export async function waitFor(child, what, probe, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${child.output()}`);
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} not ready after ${ms} ms:\n${child.output()}`);
}

export function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/* Stops a child: SIGTERM, then SIGKILL after `ms`. Resolves to its exit code
 * (null when a signal ended it). */
export async function stop(child, ms = 5000) {
  if (exited(child)) return child.exitCode;
  const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const code = await done;
  clearTimeout(timer);
  return code;
}
