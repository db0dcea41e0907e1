// warden --stdio with files instead of a client process: stdin and stdout
// may be regular files or /dev/null (which epoll refuses), a whole file of
// requests sent at once is answered in full (later lines wait for the
// initialize answer's session), warden exits at EOF after writing every
// answer, and nothing but MCP messages ever goes to stdout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wardenBin } from './lib/peers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const demo = process.env.WARDEN_DEMO_BIN || path.join(repo, 'build', 'warden-demo-registry');
const policies = ['--policy', path.join(repo, 'policies', 'registry.json'), '--policy',
  path.join(repo, 'policies', 'protect-champion.lua')];

const requests = [
  { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', id: 1, method: 'tools/list' },
  { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_model_alias', arguments: { name: 'fraud-detector', alias: 'champion' } } },
  { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_model_version_by_alias', arguments: { name: 'fraud-detector', alias: 'champion' } } },
];

let dir;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-stdio-files-')); });
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/* Runs warden with the given stdin and stdout (file descriptors or 'pipe');
 * resolves with its exit code, stdout (when piped: as text, and its bytes)
 * and stderr, or rejects
 * when it has not exited within ms. */
function runWarden(args, stdin, stdout, ms = 20000) {
  return new Promise((resolve, reject) => {
    const child = spawn(wardenBin, args, { stdio: [stdin, stdout, 'pipe'] });
    const out = [];
    let err = '';
    child.stdout?.on('data', (d) => { out.push(d); });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`warden did not exit: ${err}`)); }, ms);
    // 'close' comes after the exit and after stdout and stderr have ended
    child.on('close', (code) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code, out: bytes.toString('utf8'), bytes, err });
    });
  });
}

function writeRequests(name, { lastNewline = true } = {}) {
  const file = path.join(dir, name);
  const text = requests.map((r) => JSON.stringify(r)).join('\n');
  fs.writeFileSync(file, lastNewline ? `${text}\n` : text);
  return file;
}

/* Every line of out is one JSON-RPC message; returns the answers by id. */
function answersById(out) {
  const byId = new Map();
  for (const line of out.split('\n').filter((l) => l.length)) {
    const msg = JSON.parse(line);
    assert.equal(msg.jsonrpc, '2.0', `not a JSON-RPC message: ${line}`);
    if ('id' in msg) byId.set(msg.id, msg);
  }
  return byId;
}

function checkAnswers(out) {
  const byId = answersById(out);
  assert.deepEqual([...byId.keys()].sort(), [0, 1, 2, 3]);
  assert.equal(byId.get(0).result.serverInfo.name, 'warden-demo-registry');
  const names = byId.get(1).result.tools.map((t) => t.name);
  assert.equal(names.length, 38);
  assert.ok(!names.includes('delete_run'));
  assert.equal(byId.get(2).result.isError, true);
  assert.match(byId.get(2).result.content[0].text, /champion alias is protected/);
  assert.match(byId.get(3).result.content[0].text, /"version":"3"/);
}

test('stdin and stdout regular files: every answer written, exit 0 at EOF', async () => {
  const input = fs.openSync(writeRequests('in.jsonl'), 'r');
  const outFile = path.join(dir, 'out.jsonl');
  const output = fs.openSync(outFile, 'w');
  const { code, err } = await runWarden(['--stdio', ...policies, '--', demo], input, output);
  fs.closeSync(input);
  fs.closeSync(output);
  assert.equal(code, 0, err);
  checkAnswers(fs.readFileSync(outFile, 'utf8'));
});

test('stdin a regular file without a final newline, stdout a pipe', async () => {
  const input = fs.openSync(writeRequests('in-nolf.jsonl', { lastNewline: false }), 'r');
  const { code, out, err } = await runWarden(['--stdio', ...policies, '--', demo], input, 'pipe');
  fs.closeSync(input);
  assert.equal(code, 0, err);
  checkAnswers(out);
});

test('stdin and stdout /dev/null: exits at once', async () => {
  const input = fs.openSync('/dev/null', 'r');
  const output = fs.openSync('/dev/null', 'w');
  const { code, err } = await runWarden(['--stdio', ...policies, '--', demo], input, output, 10000);
  fs.closeSync(input);
  fs.closeSync(output);
  assert.equal(code, 0, err);
});

test('--audit-log on stdout is refused in --stdio mode', async () => {
  const outFile = path.join(dir, 'out-refused.jsonl');
  for (const audit of ['-', '/dev/stdout', outFile]) {
    const input = fs.openSync(writeRequests('in-refused.jsonl'), 'r');
    const output = fs.openSync(outFile, 'w');
    const { code, err } = await runWarden(['--stdio', '--audit-log', audit, ...policies, '--', demo], input, output);
    fs.closeSync(input);
    fs.closeSync(output);
    assert.equal(code, 2, err);
    assert.match(err, /--audit-log .* writes to stdout.*--stdio/);
    assert.equal(fs.readFileSync(outFile, 'utf8'), '');
  }
});

test('with an audit log file, stdout carries only MCP messages and stderr the logs', async () => {
  const input = fs.openSync(writeRequests('in-audit.jsonl'), 'r');
  const auditFile = path.join(dir, 'audit.jsonl');
  const { code, out, err } = await runWarden(['--stdio', '--audit-log', auditFile, '--log-level', 'debug', ...policies,
    '--', demo], input, 'pipe');
  fs.closeSync(input);
  assert.equal(code, 0, err);
  checkAnswers(out);
  assert.match(err, /stopped/);
  const audit = fs.readFileSync(auditFile, 'utf8');
  assert.match(audit, /delete_model_alias/);
});

test('an upstream error body becomes a JSON-RPC error in valid UTF-8, cut between characters', async () => {
  const http = await import('node:http');
  // 299 bytes, then a two-byte character across the 300-byte excerpt, then bytes that are not UTF-8
  const evil = Buffer.concat([Buffer.from('x'.repeat(299)), Buffer.from('é'), Buffer.from([0xff, 0xc0, 0xaf])]);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end(evil); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const input = fs.openSync(writeRequests('in-evil.jsonl'), 'r');
    const { code, out, bytes, err } = await runWarden(['--stdio', '--upstream',
      `http://127.0.0.1:${server.address().port}/mcp`], input, 'pipe');
    fs.closeSync(input);
    assert.equal(code, 0, err);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes), 'stdout is not UTF-8');
    const answer = JSON.parse(out.split('\n')[0]);
    assert.equal(answer.id, 0);
    assert.match(answer.error.message, /HTTP 500: x{299}$/);
  } finally {
    server.close();
  }
});
