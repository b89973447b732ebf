/**
 * The network-namespace harness (test/fixtures/netns.ts) that multi-host tests stand on: hosts reach
 * each other over TCP, the test process reaches their HTTP servers, a cut link really cuts, a
 * restored one works again, and nothing is left behind, after destroy(), a stopped run or a crash.
 * Skipped, with the reason, where namespaces cannot be made (not root, no iproute2).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, type Lan, netnsSkipReason } from './fixtures/netns.ts';

const reason = netnsSkipReason();
if (reason !== null) console.log(`netns tests skipped: ${reason}`);

const NODE = process.execPath;
const PORT = 7000;

/** A TCP server on 0.0.0.0:PORT that answers every connection with its host's name and closes. */
const TCP_SERVER = `require('node:net').createServer((s) => s.end(process.argv[1])).listen(${PORT}, '0.0.0.0', () => console.log('listening'))`;
/** Connects to argv[1]:PORT, prints what the server says; exits 1 on an error or after argv[2] ms. */
const TCP_CLIENT = `const s = require('node:net').connect(${PORT}, process.argv[1]); let got = '';
s.setTimeout(Number(process.argv[2]), () => { console.error('timeout'); process.exit(1); });
s.on('data', (d) => (got += d)).on('end', () => { console.log(got); process.exit(0); });
s.on('error', (e) => { console.error(e.code); process.exit(1); });`;
const HTTP_SERVER = `require('node:http').createServer((q, r) => r.end('hello from ' + process.argv[1])).listen(${PORT}, '0.0.0.0', () => console.log('listening'))`;

/** Names of the harness's namespaces and root-namespace links that exist now. */
function harnessObjects(): string[] {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return [...`${namespaces}\n${links}`.matchAll(/\bmlt[0-9a-z]{1,2}-[0-9a-z]+-[0-9a-z]+\b/g)].map(
    (m) => m[0],
  );
}

describe.skipIf(reason !== null)(
  `network namespaces${reason === null ? '' : ` (skipped: ${reason})`}`,
  () => {
    let lan: Lan;

    /** Starts a server one-liner in host i and waits until it listens. */
    async function serve(i: number, script: string): Promise<void> {
      const child = lan.exec(i, NODE, ['-e', script, `host${i}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server in host ${i} did not start`)), 5000);
        child.stdout!.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
        child.once('exit', (code) => reject(new Error(`server in host ${i} exited with ${code}`)));
      });
    }

    /** What host `from` gets from host `to`'s TCP server, or the client's error line. */
    async function connect(from: number, to: number, timeout_ms = 600): Promise<string> {
      const result = await lan.run(
        from,
        NODE,
        ['-e', TCP_CLIENT, lan.addresses[to - 1]!, String(timeout_ms)],
        {
          timeout_ms: timeout_ms + 5000,
        },
      );
      return result.code === 0 ? result.stdout.trim() : `failed: ${result.stderr.trim()}`;
    }

    beforeAll(async () => {
      lan = await createLan({ hosts: 3 });
      await serve(2, TCP_SERVER);
      await serve(3, HTTP_SERVER);
    });

    afterAll(async () => {
      await lan?.destroy();
    });

    it('gives every host its own address on one /24, and the root namespace one too', async () => {
      expect(lan.addresses).toHaveLength(3);
      expect(lan.subnet).toMatch(/^198\.18\.\d+\.0\/24$/);
      for (const [k, address] of lan.addresses.entries()) {
        expect(address).toBe(lan.subnet.replace(/0\/24$/, String(k + 1)));
        const shown = await lan.run(k + 1, 'ip', ['-o', '-4', 'addr', 'show']);
        expect(shown.stdout).toContain(`inet ${address}/24`);
        // No default route: a host reaches its LAN and nothing else.
        expect((await lan.run(k + 1, 'ip', ['route', 'show', 'default'])).stdout.trim()).toBe('');
      }
      expect(execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })).toContain(
        `inet ${lan.rootAddress}/24`,
      );
    });

    it('host 1 opens a TCP connection to a server in host 2', async () => {
      expect(await connect(1, 2)).toBe('host2');
    });

    it('the test process fetches an HTTP server in host 3 at its address', async () => {
      const response = await fetch(`http://${lan.addresses[2]}:${PORT}/`, {
        signal: AbortSignal.timeout(3000),
      });
      expect(await response.text()).toBe('hello from host3');
    });

    it("cut(2) cuts host 2's link, host 1 and host 3 still talk, and restore(2) brings it back", async () => {
      await serve(1, TCP_SERVER);
      await lan.cut(2);
      expect(await connect(1, 2)).toMatch(/^failed: (timeout|EHOSTUNREACH)/);
      expect(await connect(2, 1)).toMatch(/^failed: (timeout|EHOSTUNREACH|ENETUNREACH)/);
      expect(await connect(3, 1)).toBe('host1');
      const response = await fetch(`http://${lan.addresses[2]}:${PORT}/`, {
        signal: AbortSignal.timeout(3000),
      });
      expect(response.status).toBe(200);
      await lan.restore(2);
      // The link is up at once; allow a few tries for the carrier to come back.
      let answer = '';
      for (let attempt = 0; attempt < 10 && answer !== 'host2'; attempt++) answer = await connect(1, 2);
      expect(answer).toBe('host2');
    });

    it('destroy() kills what runs in the hosts and removes every namespace and link it made', async () => {
      const objects = [...lan.objects.namespaces, ...lan.objects.rootLinks];
      expect(harnessObjects()).toEqual(expect.arrayContaining(objects));
      await lan.destroy();
      await lan.destroy(); // a second call is harmless
      const left = harnessObjects();
      for (const name of objects) expect(left).not.toContain(name);
      expect(execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })).not.toContain(
        `inet ${lan.rootAddress}/`,
      );
    });
  },
);

describe.skipIf(reason !== null)('network namespaces left by a stopped or crashed run', () => {
  const fixture = fileURLToPath(new URL('./fixtures/netns.ts', import.meta.url));
  /** A process that builds a 2-host LAN with a server running in host 1, prints the LAN's objects, and waits. */
  const OWNER = `import { createLan } from ${JSON.stringify(fixture)};
const lan = await createLan({ hosts: 2 });
lan.exec(1, process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log(JSON.stringify([...lan.objects.namespaces, ...lan.objects.rootLinks]));
setInterval(() => {}, 1000);`;

  async function startOwner(): Promise<{ pid: number; objects: string[]; exited: Promise<unknown> }> {
    const child = spawn(NODE, ['--input-type=module', '-e', OWNER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the LAN owner did not start')), 10_000);
      child.stdout!.setEncoding('utf8').once('data', (data: string) => {
        clearTimeout(timer);
        resolve(data);
      });
      child.once('exit', (code) => reject(new Error(`the LAN owner exited with ${code}`)));
    });
    return { pid: child.pid!, objects: JSON.parse(line) as string[], exited };
  }

  it('a run stopped with SIGTERM removes its LAN on the way out', async () => {
    const owner = await startOwner();
    expect(harnessObjects()).toEqual(expect.arrayContaining(owner.objects));
    process.kill(owner.pid, 'SIGTERM');
    await owner.exited;
    const left = harnessObjects();
    for (const name of owner.objects) expect(left).not.toContain(name);
  });

  it('a run killed with SIGKILL leaves its LAN, and the next createLan removes it', async () => {
    const owner = await startOwner();
    process.kill(owner.pid, 'SIGKILL');
    await owner.exited;
    expect(harnessObjects()).toEqual(expect.arrayContaining(owner.objects));
    const next = await createLan({ hosts: 1 });
    try {
      const left = harnessObjects();
      for (const name of owner.objects) expect(left).not.toContain(name);
    } finally {
      await next.destroy();
    }
    expect(existsSync(`/run/netns/${owner.objects[0]}`)).toBe(false);
  });
});
