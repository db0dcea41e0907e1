// Starting and stopping the processes of an end-to-end test: warden itself,
// our fixture server, and the reference server-everything, all on 127.0.0.1.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const e2eDir = path.resolve(here, '..');
export const repoDir = path.resolve(e2eDir, '..', '..');
export const wardenBin = process.env.WARDEN_BIN || path.join(repoDir, 'build', 'warden');

const children = new Set();
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } });

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitForPort(port, child, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${child.output()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port}: ${child.output()}`);
}

function run(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.output = () => out.slice(-4000);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/* Stops a child: SIGTERM, then SIGKILL after a bound. Resolves to its exit code. */
export async function stop(child, ms = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const code = await done;
  clearTimeout(timer);
  return code;
}

export async function startFixture({ json = false } = {}) {
  const port = await freePort();
  const child = run(process.execPath, [path.join(here, 'fixture-server.mjs'), ...(json ? ['--json'] : [])], { PORT: String(port) });
  await waitForPort(port, child, 'fixture server');
  return { child, port, url: `http://127.0.0.1:${port}/mcp` };
}

export async function startEverything() {
  const port = await freePort();
  const entry = path.join(e2eDir, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
  const child = run(process.execPath, ['--require', path.join(here, 'loopback-only.cjs'), entry, 'streamableHttp'], { PORT: String(port) });
  await waitForPort(port, child, 'server-everything');
  return { child, port, url: `http://127.0.0.1:${port}/mcp` };
}

/* Starts warden with `args` (listen address added) and waits for /healthz. */
export async function startWarden(args, env = {}) {
  const port = await freePort();
  const child = run(wardenBin, [...args, '--listen', `127.0.0.1:${port}`], env);
  await waitForPort(port, child, 'warden');
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  if (res.status !== 200) throw new Error(`warden /healthz answered ${res.status}`);
  return { child, port, base: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/mcp` };
}
