/**
 * The container and service files, checked without a container engine (the machines that run this
 * suite have none). compose.yaml, the Dockerfile, .dockerignore and the systemd unit must agree with
 * each other and with the CLI; docker/entrypoint.sh, which works outside a container too, is run for
 * real: it writes the compose file's testnet (and leaves it alone the second time, so `compose up`
 * resumes the chain), refuses to start without a node home, and starts validators that the image's
 * health check (docker/healthcheck.js on /readyz) finds ready and that stop cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePorts } from '../src/free-port.ts';
import { DEFAULT_API_PORT, DEFAULT_P2P_PORT, NON_SETTING_ENV, SETTINGS } from '../src/node/settings.ts';
import { cleanEnv, killProcessGroups, run } from './fixtures/run.ts';

const root = new URL('..', import.meta.url).pathname;
const dockerDir = join(root, 'docker');
const entrypoint = join(dockerDir, 'entrypoint.sh');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

const PASSPHRASE = 'docker-test-passphrase';
const KNOWN_ENV = new Set<string>([...NON_SETTING_ENV, ...SETTINGS.map((s) => s.env)]);

// --- the files, parsed --------------------------------------------------------------------------

/** compose.yaml with its `<<` merge keys applied, as Compose reads it. */
const compose = parseYaml(read('docker/compose.yaml'), { merge: true }) as {
  services: Record<string, any>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
};
const validatorNames = Object.keys(compose.services)
  .filter((name) => /^validator-\d+$/.test(name))
  .sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
const testnetCommand: string[] = compose.services.testnet.command;

/** The value of `--name V` or `--name=V` in an argument list. */
function option(args: string[], name: string): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (arg === name) return args[i + 1];
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

/** The arguments with `--name`'s value replaced. */
function withOption(args: string[], name: string, value: string): string[] {
  const i = args.indexOf(name);
  if (i < 0) throw new Error(`no ${name} in ${args.join(' ')}`);
  return args.map((arg, j) => (j === i + 1 ? value : arg));
}

/** A service's volume mounts, short (`source:target[:mode]`) or long syntax. */
function mounts(service: any): Array<{ source: string; target: string }> {
  return (service.volumes ?? []).map((v: any) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target };
    const [source, target] = v.split(':');
    return { source, target };
  });
}

/** `127.0.0.1:7481:7480` → its three parts (a port without a host address has none). */
function published(port: string): { address?: string; host: string; container: string } {
  const parts = String(port).split(':');
  if (parts.length === 3) return { address: parts[0]!, host: parts[1]!, container: parts[2]! };
  if (parts.length === 2) return { host: parts[0]!, container: parts[1]! };
  return { host: '', container: parts[0]! };
}

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's build stages: each FROM and the instructions after it. */
function dockerfileStages(text: string): Array<{ from: Instruction; body: Instruction[] }> {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue; // directives are comments too
    pending += `${line.replace(/\\$/, '')} `;
    if (!line.endsWith('\\')) {
      lines.push(pending.trim());
      pending = '';
    }
  }
  const stages: Array<{ from: Instruction; body: Instruction[] }> = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') stages.push({ from: instruction, body: [] });
    else stages.at(-1)?.body.push(instruction);
  }
  return stages;
}

const stages = dockerfileStages(read('docker/Dockerfile'));
const finalStage = stages.at(-1)!;
const all = (keyword: string) => finalStage.body.filter((i) => i.keyword === keyword);
const last = (keyword: string) => all(keyword).at(-1);

/** COPY's sources and destination, without its --flags; `from` names the stage it copies from. */
function copies(body: Instruction[]): Array<{ from?: string; sources: string[]; dest: string }> {
  return body
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });
}

/** Where a file of the build context lands in the image, if a COPY of the final stage puts it there. */
function imagePathOf(contextPath: string): string | undefined {
  for (const copy of copies(finalStage.body)) {
    if (copy.from !== undefined) continue;
    for (const source of copy.sources) {
      const dest = resolve(last('WORKDIR')?.args ?? '/', copy.dest);
      if (source === contextPath)
        return copy.dest.endsWith('/') ? join(dest, source.split('/').at(-1)!) : dest;
      if (contextPath.startsWith(`${source}/`)) return join(dest, contextPath.slice(source.length + 1));
    }
  }
  return undefined;
}

// --- running the entrypoint -----------------------------------------------------------------------

/** This process's environment without MEDLEDGER_* settings, with this Node 24 first on PATH. */
const nodeEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  cleanEnv({ PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...extra });

const entry = (args: string[], env: NodeJS.ProcessEnv) =>
  run('sh', [entrypoint, ...args], { cwd: root, env });

const scratch: string[] = [];
const started: ChildProcess[] = [];
afterAll(async () => {
  // Each started node leads its own process group: a failed check leaves nothing running, even if
  // the entrypoint had started node as its child instead of becoming it.
  killProcessGroups(started);
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'medledger-docker-'));
  scratch.push(dir);
  return dir;
}

/** A passphrase file, as the compose secret mounts it. */
async function passphraseFile(dir: string): Promise<string> {
  const path = join(dir, 'passphrase.txt');
  await writeFile(path, `${PASSPHRASE}\n`, { mode: 0o600 });
  return path;
}

// --- the checks ---------------------------------------------------------------------------------

describe('docker/compose.yaml', () => {
  const out = option(testnetCommand, '--out')!;

  it('has a testnet service that writes the testnet of its validator services into its volume', () => {
    expect(testnetCommand[0]).toBe('testnet');
    expect(validatorNames.length).toBeGreaterThanOrEqual(4);
    expect(option(testnetCommand, '--validators')).toBe(String(validatorNames.length));
    expect(option(testnetCommand, '--hosts')?.split(',')).toEqual(validatorNames);
    expect(out).toMatch(/^\//);
    const volume = mounts(compose.services.testnet).find((m) => m.target === out);
    expect(volume, `a volume mounted at --out ${out}`).toBeDefined();
    expect(compose.volumes ?? {}).toHaveProperty(volume!.source); // a named volume, not a host path
    expect(compose.services.testnet.restart).toBe('no');
  });

  it.each(validatorNames)(
    '%s starts its own node home from that volume, after the testnet is written',
    (name) => {
      const service = compose.services[name];
      const n = name.split('-')[1];
      expect(service.command).toEqual(['start']);
      expect(service.environment.MEDLEDGER_HOME).toBe(`${out}/node-${n}`);
      const volume = mounts(compose.services.testnet).find((m) => m.target === out)!;
      expect(mounts(service)).toContainEqual(volume);
      expect(service.depends_on.testnet.condition).toBe('service_completed_successfully');
      expect(service.restart).toBe('unless-stopped');
      expect(service.healthcheck.test.join(' ')).toContain('/readyz');
    },
  );

  it('publishes each API on the host loopback only, at distinct ports', () => {
    const hostPorts = validatorNames.flatMap((name) => {
      const ports: string[] = compose.services[name].ports ?? [];
      expect(ports.length, name).toBeGreaterThan(0);
      return ports.map((p) => {
        const port = published(p);
        expect(port.address, `${name}: ${p}`).toBe('127.0.0.1');
        return port.host;
      });
    });
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    expect(compose.services.testnet.ports ?? []).toEqual([]);
  });

  it('gives every service the passphrase as a secret file, never as a value', () => {
    expect(compose.secrets?.passphrase?.file).toBe('./passphrase.txt');
    for (const name of ['testnet', ...validatorNames]) {
      const service = compose.services[name];
      expect(service.secrets, name).toContain('passphrase');
      expect(service.environment.MEDLEDGER_PASSPHRASE_FILE, name).toBe('/run/secrets/passphrase');
      expect(service.environment, name).not.toHaveProperty('MEDLEDGER_PASSPHRASE');
      for (const variable of Object.keys(service.environment)) {
        if (variable.startsWith('MEDLEDGER_')) expect(KNOWN_ENV, `${name}: ${variable}`).toContain(variable);
      }
    }
    expect(read('docker/.gitignore').split('\n')).toContain('passphrase.txt');
  });

  it('runs every service from the image docker/Dockerfile builds, through its entrypoint', () => {
    const images = new Set<string>();
    for (const [name, service] of Object.entries(compose.services)) {
      expect(resolve(dockerDir, service.build.context), name).toBe(resolve(root));
      expect(service.build.dockerfile, name).toBe('docker/Dockerfile');
      expect(service.entrypoint, name).toBeUndefined();
      images.add(service.image);
    }
    expect(images.size).toBe(1); // built once, shared; never pulled under that name
  });
});

describe('docker/Dockerfile', () => {
  const devNode = JSON.parse(read('package.json')).devDependencies.node as string;

  it('builds in stages on the Node major the project runs on', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages)
      expect(stage.from.args).toMatch(new RegExp(`^node:${devNode.split('.')[0]}[-.]`));
    expect(copies(finalStage.body).some((c) => c.from !== undefined)).toBe(true);
  });

  it('installs the production dependencies, and builds each native one the lockfile names', () => {
    const run = stages
      .slice(0, -1)
      .flatMap((s) => s.body.filter((i) => i.keyword === 'RUN'))
      .map((i) => i.args)
      .join(' && ');
    // Scripts off: the build stage has only the manifests, not what the project's own scripts need.
    expect(run).toMatch(/\bnpm ci\b[^&]*--omit=dev/);
    expect(run).toMatch(/\bnpm ci\b[^&]*--ignore-scripts/);
    const rebuilt = /\bnpm rebuild ([^&]*)/.exec(run)?.[1]?.trim().split(/\s+/) ?? [];
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
    };
    const native = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript && !entry.dev)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(native.length).toBeGreaterThan(0);
    expect(rebuilt.sort()).toEqual([...new Set(native)].sort());
    // The project's postinstall (off with the scripts) applies the patches to dependencies: so must
    // the image, after installing, from the patches it copied in.
    expect(JSON.parse(read('package.json')).scripts.postinstall).toBe('patch-package --error-on-fail');
    expect(run).toMatch(/\bnpm ci\b.*&& npx patch-package --error-on-fail\b/);
    const depsStage = stages.at(-2)!;
    expect(copies(depsStage.body).some((c) => c.sources.includes('patches'))).toBe(true);
    expect(read('.dockerignore').split('\n')).toContain('!patches');
  });

  it('runs as an unprivileged user, with the node home and the testnet on volumes', () => {
    const user = last('USER')?.args.split(':')[0];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const volumes = all('VOLUME').flatMap((v) =>
      v.args.startsWith('[') ? JSON.parse(v.args) : v.args.split(/\s+/),
    );
    expect(volumes).toContain(option(testnetCommand, '--out'));
    const home = all('ENV')
      .find((e) => e.args.startsWith('MEDLEDGER_HOME='))
      ?.args.split('=')[1];
    expect(volumes).toContain(home);
  });

  it('enters through docker/entrypoint.sh, stops on SIGTERM, and checks health on /readyz', () => {
    const [entry] = JSON.parse(last('ENTRYPOINT')!.args) as string[];
    expect(entry).toBe(imagePathOf('docker/entrypoint.sh'));
    expect(last('STOPSIGNAL')?.args).toBe('SIGTERM');
    const health = last('HEALTHCHECK')!.args;
    const command = JSON.parse(health.slice(health.indexOf('CMD') + 3).trim()) as string[];
    expect(command).toEqual(['node', imagePathOf('docker/healthcheck.js'), '/readyz']);
    const exposed = all('EXPOSE').flatMap((e) => e.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining([String(DEFAULT_P2P_PORT), String(DEFAULT_API_PORT)]));
  });

  it('bakes in no passphrase', () => {
    for (const stage of stages) {
      for (const i of stage.body.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) {
        expect(i.args, `${i.keyword} ${i.args}`).not.toMatch(/PASSPHRASE|SECRET|PASSWORD/i);
      }
    }
  });

  it('copies only what .dockerignore lets into the context, and never the passphrase file', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*'); // an allowlist: whatever is not named stays out
    const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    for (const copy of stages.flatMap((s) => copies(s.body)).filter((c) => c.from === undefined)) {
      for (const source of copy.sources) {
        expect(allowed, source).toContain(source);
        expect(existsSync(join(root, source)), source).toBe(true);
      }
    }
    expect(allowed.some((a) => 'docker/passphrase.txt'.startsWith(a))).toBe(false);
  });
});

describe('docker/medledger.service', () => {
  const unit = read('docker/medledger.service');
  const values = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

  it('runs `medledger start` as its own user, stopped by SIGTERM, the passphrase a credential', () => {
    expect(values('Type')).toEqual(['simple']);
    expect(values('User')).toEqual(['medledger']);
    expect(values('KillSignal')).toEqual(['SIGTERM']);
    expect(values('ExecStart')[0]).toMatch(/bin\/medledger\.js start$/);
    expect(values('LoadCredential')).toEqual(['passphrase:/etc/medledger/passphrase']);
    const env = Object.fromEntries(values('Environment').map((e) => e.split('=', 2) as [string, string]));
    expect(env.MEDLEDGER_PASSPHRASE_FILE).toBe('%d/passphrase');
    expect(values('ReadWritePaths')).toContain(env.MEDLEDGER_HOME);
    for (const name of Object.keys(env)) if (name.startsWith('MEDLEDGER_')) expect(KNOWN_ENV).toContain(name);
    expect(values('NoNewPrivileges')).toEqual(['yes']);
    expect(values('ProtectSystem')).toEqual(['strict']);
  });
});

describe('docker/entrypoint.sh', () => {
  it('is POSIX sh, and shellcheck finds nothing', async () => {
    expect((await run('sh', ['-n', entrypoint], { cwd: root, env: nodeEnv() })).code).toBe(0);
    const shellcheck = await run('sh', ['-c', 'command -v shellcheck'], { cwd: root, env: nodeEnv() });
    if (shellcheck.code !== 0) return; // not installed here: the syntax check above still ran
    const lint = await run('shellcheck', ['--shell=sh', entrypoint], { cwd: root, env: nodeEnv() });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.code).toBe(0);
  });

  it('passes any other command to the CLI', async () => {
    const result = await entry(['--version'], nodeEnv());
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(JSON.parse(read('package.json')).version);
  });

  it('refuses to start without a node home, saying why', async () => {
    const unset = await entry(['start'], nodeEnv());
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toMatch(/MEDLEDGER_HOME is not set/);
    const empty = await tempDir();
    const notHome = await entry(['start'], nodeEnv({ MEDLEDGER_HOME: empty }));
    expect(notHome.code).not.toBe(0);
    expect(notHome.stderr).toContain(`MEDLEDGER_HOME=${empty} is not a node home`);
  });

  it("writes the compose file's testnet, which agrees with the services, and leaves it alone next time", async () => {
    const dir = await tempDir();
    const out = join(dir, 'testnet');
    const env = nodeEnv({ MEDLEDGER_PASSPHRASE_FILE: await passphraseFile(dir) });
    const args = withOption(testnetCommand, '--out', out);
    const first = await entry(args, env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);

    // The genesis names each validator by its service name, at the p2p port the image exposes.
    const genesis = JSON.parse(await readFile(join(out, 'genesis.json'), 'utf8'));
    expect(genesis.validators.map((v: any) => v.addresses)).toEqual(
      validatorNames.map((name) => [`/dns4/${name}/tcp/${DEFAULT_P2P_PORT}`]),
    );
    // Each service's MEDLEDGER_HOME is a home the command wrote, whose API the service publishes.
    const composeOut = option(testnetCommand, '--out')!;
    for (const name of validatorNames) {
      const home = join(out, compose.services[name].environment.MEDLEDGER_HOME.slice(composeOut.length));
      expect(existsSync(join(home, 'validator.key')), name).toBe(true);
      const config = parseToml(await readFile(join(home, 'config.toml'), 'utf8')) as any;
      expect(config.api.host).toBe('0.0.0.0');
      // Plain HTTP off loopback: a node refuses to start unless api.insecure allows it.
      expect(config.api.insecure).toBe(true);
      const containerPorts = compose.services[name].ports.map((p: string) => published(p).container);
      expect(containerPorts).toEqual([String(config.api.port)]);
      expect(config.listen).toEqual([`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`]);
    }

    const before = await readFile(join(out, 'genesis.json'));
    const second = await entry(args, env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('already exists');
    expect(await readFile(join(out, 'genesis.json'))).toEqual(before);

    // A testnet an earlier medledger wrote (chain format 1: no validator encryptionKey) is refused.
    const format1 = JSON.parse(before.toString());
    for (const v of format1.validators) delete v.encryptionKey;
    await writeFile(join(out, 'genesis.json'), JSON.stringify(format1));
    const old = await entry(args, env);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/encryptionKey: missing: this file was written for chain format 1/);
    expect(old.stderr).toContain(`the testnet in ${out} cannot be resumed by this medledger`);
    expect(old.stderr).toContain('docker compose down -v');
  }, 120_000);

  it('starts the validators of a testnet: the health check finds them ready, SIGTERM stops them', async () => {
    const dir = await tempDir();
    const out = join(dir, 'testnet');
    const passphrase = await passphraseFile(dir);
    const p2p = await freePorts(validatorNames.length);
    // The compose file's command, on one machine: loopback hosts at free ports.
    let args = withOption(testnetCommand, '--out', out);
    args = withOption(args, '--hosts', p2p.map((port) => `127.0.0.1:${port}`).join(','));
    const written = await entry(args, nodeEnv({ MEDLEDGER_PASSPHRASE_FILE: passphrase }));
    expect(written.stderr).toBe('');
    expect(written.code).toBe(0);

    const homes = validatorNames.map((_, i) => join(out, `node-${i + 1}`));
    const logs = homes.map(() => ({ text: '' }));
    const nodes = homes.map((home, i) => {
      // API port 0: any free one (the health check finds it in listening.json), so parallel suites
      // cannot collide on the testnet's fixed API ports.
      const env = nodeEnv({
        MEDLEDGER_HOME: home,
        MEDLEDGER_PASSPHRASE_FILE: passphrase,
        MEDLEDGER_API_PORT: '0',
        MEDLEDGER_LOG_LEVEL: 'warn',
      });
      const child = spawn('sh', [entrypoint, 'start'], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group, for the clean-up above
      });
      started.push(child);
      const take = (chunk: Buffer) => {
        logs[i]!.text += chunk.toString();
      };
      child.stdout!.on('data', take);
      child.stderr!.on('data', take);
      return child;
    });
    const exited = nodes.map(
      (child) =>
        new Promise<{ code: number | null; signal: string | null }>((done) =>
          child.once('exit', (code, signal) => done({ code, signal })),
        ),
    );

    // Ready: what Docker's HEALTHCHECK runs, against each home.
    const health = (home: string) =>
      run('node', [join(dockerDir, 'healthcheck.js'), '/readyz'], {
        cwd: root,
        env: nodeEnv({ MEDLEDGER_HOME: home }),
      });
    const deadline = Date.now() + 45_000;
    const ready = new Set<number>();
    while (ready.size < homes.length && Date.now() < deadline) {
      for (const [i, home] of homes.entries())
        if (!ready.has(i) && (await health(home)).code === 0) ready.add(i);
      if (ready.size < homes.length) await new Promise((r) => setTimeout(r, 500));
    }
    expect(ready.size, logs.map((l, i) => `node-${i + 1}: ${l.text}`).join('\n')).toBe(homes.length);

    // exec: the process the entrypoint started is node itself, so a signal to it reaches the node.
    for (const child of nodes) {
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toEqual(expect.arrayContaining(['start', '--home']));
      expect(cmdline.some((arg) => arg.endsWith('bin/medledger.js'))).toBe(true);
    }
    for (const child of nodes) child.kill('SIGTERM');
    const results = await Promise.all(exited);
    for (const [i, result] of results.entries()) {
      expect(result, logs[i]!.text).toEqual({ code: 0, signal: null });
      expect(existsSync(join(homes[i]!, 'node.lock'))).toBe(false);
    }
  }, 120_000);

  it('leaves a testnet that --force asks to overwrite to the CLI', async () => {
    const dir = await tempDir();
    const out = join(dir, 'testnet');
    await mkdir(out);
    await writeFile(join(out, 'genesis.json'), '{}\n');
    const env = nodeEnv({ MEDLEDGER_PASSPHRASE_FILE: await passphraseFile(dir) });
    const args = [...withOption(testnetCommand, '--out', out), '--force'];
    const result = await entry(args, env);
    expect(result.code).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'genesis.json'), 'utf8')).validators).toHaveLength(
      validatorNames.length,
    );
  }, 120_000);
});
