import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { createServer } from 'http';
import { AddressInfo } from 'net';
import { join } from 'path';
import { EngineBinaries, locateEngine, PrometheusEngine, rehearsalRoot, sweepRehearsalFolders } from '../lib/rehearsal/prometheus-engine';
import { twoServiceFolder } from './helpers';

// Whatever ends the rehearsal, nothing of it may stay: no prometheus, no temporary data.

/** promtool and prometheus; without them these tests are skipped, except on CI, where they fail saying how to install them. */
const located = (() => {
  try {
    return locateEngine();
  } catch (e) {
    return e as Error;
  }
})();
const binaries = (): EngineBinaries => {
  if (located instanceof Error) throw located;
  return located;
};
const engineOrCi = !(located instanceof Error) || process.env.CI === 'true';
const withEngine = engineOrCi ? test : test.skip;
/** For the tests that wait on a CLI of their own: side by side, they take the time of one. */
const concurrentlyWithEngine = engineOrCi ? test.concurrent : test.skip;

/** The two-service folder, written once for this file's tests, which only read it. */
let folder: string | undefined;
const twoServices = () => (folder ??= twoServiceFolder());

/** The CLIs the tests started; those a failed test left running are killed at the end (their watchdogs clean up). */
const clis: ChildProcess[] = [];
afterAll(() => clis.filter((c) => c.exitCode === null && c.signalCode === null).forEach((c) => c.kill('SIGKILL')));

/** The rehearse CLI as `npm run rehearse` runs it, in a process of its own. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, ['cli/run.js', 'cli/rehearse', ...args], { cwd: join(__dirname, '..'), stdio: ['ignore', 'ignore', 'pipe'] });
  clis.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const ended = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stderr })));
  return { child, ended };
}

/** Polls until the probe answers something other than undefined or false; fails after `ms` (generous: on a loaded 2-core machine a CLI took over 10 s to start its prometheus). */
async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await probe();
    if (answer !== undefined && answer !== false) return answer;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The processes whose command line names something in the folder, as `pid args` (a zombie's names nothing). */
function processesNaming(dir: string): string[] {
  return execFileSync('ps', ['-e', '-o', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => l.includes(`${dir}/`));
}

/** The folder and the prometheus of a CLI's engine, once its prometheus runs. */
function serverOf(cliPid: number, prometheus: string): { dir: string; pid: number; url: string } | undefined {
  const root = rehearsalRoot();
  const name = existsSync(root) ? readdirSync(root).find((n) => n.startsWith(`${cliPid}-`)) : undefined;
  if (!name) return undefined;
  const dir = join(root, name);
  const line = processesNaming(dir).find((l) => l.split(/\s+/)[1] === prometheus);
  if (!line) return undefined;
  const [, port] = /--web\.listen-address=127\.0\.0\.1:(\d+)/.exec(line)!;
  const [, prefix] = /--web\.route-prefix=(\S+)/.exec(line)!;
  return { dir, pid: Number(line.split(/\s+/)[0]), url: `http://127.0.0.1:${port}${prefix}` };
}

async function answers(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url);
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

describe('the rehearsal cleans up after itself', () => {
  concurrentlyWithEngine('a SIGKILLed rehearsal leaves no prometheus running, and no folder after the next start', async () => {
    // GIVEN a rehearsal whose prometheus is up, stopped where it is (so it cannot finish first)
    const { prometheus } = binaries();
    const cli = startCli(['--manifests', twoServices(), '--rollout', 'hotrod', '--trials', '3']);
    const server = await until("the CLI's prometheus", () => serverOf(cli.child.pid!, prometheus));
    cli.child.kill('SIGSTOP');
    await until('prometheus ready', () => answers(`${server.url}/-/ready`));

    // WHEN it is killed, which no handler of its own sees
    cli.child.kill('SIGKILL');
    await cli.ended;

    // THEN its watchdog kills prometheus and removes the folder; the next start finds nothing to do
    await until('no process naming the folder', () => processesNaming(server.dir).length === 0, 10_000);
    expect(sweepRehearsalFolders()).not.toContain(server.dir);
    expect(existsSync(server.dir)).toBe(false);
  }, 60_000);

  concurrentlyWithEngine('a rehearsal SIGTERMed while it backfills ends at once by that signal, leaving no process and no folder', async () => {
    // GIVEN a rehearsal that is writing its series (many trials: it takes seconds)
    const cli = startCli(['--manifests', twoServices(), '--rollout', 'hotrod', '--trials', '300']);
    const dir = await until('the series being written', () => {
      const name = existsSync(rehearsalRoot()) && readdirSync(rehearsalRoot()).find((n) => n.startsWith(`${cli.child.pid}-`));
      return name && readdirSync(join(rehearsalRoot(), name)).some((f) => f.endsWith('.om')) && join(rehearsalRoot(), name);
    }, 60_000);
    const closed = new Promise<string | null>((r) => cli.child.once('close', (_code, signal) => r(signal)));

    // WHEN
    const sent = Date.now();
    cli.child.kill('SIGTERM');

    // THEN
    await expect(closed).resolves.toBe('SIGTERM');
    // (before the series were made in turns: 21 s on a loaded machine)
    expect(Date.now() - sent).toBeLessThan(8000);
    expect(processesNaming(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 90_000);

  concurrentlyWithEngine('a prometheus that dies mid-run is reported as its exit, without a stack, and the CLI exits 1', async () => {
    // GIVEN a rehearsal that has started querying
    const { prometheus } = binaries();
    const cli = startCli(['--manifests', twoServices(), '--rollout', 'hotrod', '--trials', '20']);
    const server = await until("the CLI's prometheus", () => serverOf(cli.child.pid!, prometheus));
    await until('the first queries', async () => /handler="\/api\/v1\/query"\} [1-9]/.test((await answers(`${server.url}/metrics`)) ?? ''));

    // WHEN its prometheus is killed (the CLI held still meanwhile, so that it cannot finish first)
    cli.child.kill('SIGSTOP');
    process.kill(server.pid, 'SIGKILL');
    cli.child.kill('SIGCONT');
    const r = await cli.ended;

    // THEN
    expect(r.stderr).toMatch(/^rehearse: prometheus exited \(code none, signal SIGKILL\): .+\n$/);
    expect(r.stderr).not.toContain('socket hang up');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(1);
    expect(existsSync(server.dir)).toBe(false);
  }, 60_000);

  withEngine('a port taken meanwhile is retried on another port, over the same data', async () => {
    // GIVEN the port is another server's, which answers like an unprefixed Prometheus
    const other = createServer((req, res) => {
      if (req.url === '/-/ready' || req.url?.startsWith('/api/v1/query')) res.end('{"status":"success","data":{"resultType":"scalar","result":[0,"42"]}}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      // WHEN the engine is started on it
      const engine = await PrometheusEngine.start('# TYPE up gauge\nup 1 1735689600\n# EOF\n', binaries(), { port: (other.address() as AddressInfo).port });
      try {
        // THEN it answers from its own data
        expect(await engine.query('up', 1735689600)).toEqual({ result: [1] });
      } finally {
        await engine.stop();
      }
    } finally {
      other.close();
    }
  }, 60_000);

  withEngine('a streamed backfill lets timers and signal handlers run while it makes its chunks', async () => {
    // GIVEN series that take 1.5 s of CPU to make, in small chunks, and a timer due after 100 ms
    // (a signal handler runs where a timer does: between macrotasks)
    const busyFor = 1500;
    const started = Date.now();
    let made = 0;
    function* slowSeries(): Iterable<string> {
      yield '# TYPE up gauge\n';
      for (let t = 1735689600; Date.now() - started < busyFor; t += 15) {
        const until = Date.now() + 5;
        while (Date.now() < until) {
          // the CPU work of making a chunk
        }
        made++;
        yield `up 1 ${t}\n`;
      }
    }
    let madeWhenTimerRan: number | undefined;
    setTimeout(() => (madeWhenTimerRan = made), 100);

    // WHEN they are backfilled as they are made
    const engine = await PrometheusEngine.start(() => slowSeries(), binaries());
    try {
      // THEN the timer ran while chunks were still being made, not after the last
      expect(madeWhenTimerRan).toBeDefined();
      expect(madeWhenTimerRan!).toBeLessThan(made / 2);
      expect(await engine.query('count_over_time(up[1d])', 1735689600 + 86_000)).toEqual({ result: [made] });
    } finally {
      await engine.stop();
    }
  }, 60_000);

  test('the next start kills what a dead rehearsal left running in its folder, and removes the folder', async () => {
    // GIVEN the folder of a rehearsal whose process is gone, with a process still writing to it
    // and a recorded pid that another process has taken since; and a folder of a live one
    const root = rehearsalRoot();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const left = join(root, `${dead}-left`);
    const live = join(root, `${process.pid}-live`);
    mkdirSync(join(left, 'data'), { recursive: true });
    mkdirSync(live, { recursive: true });
    const idle = ['-e', 'setInterval(() => undefined, 1000)'];
    const stray = spawn(process.execPath, [...idle, join(left, 'data')], { detached: true, stdio: 'ignore' });
    const other = spawn(process.execPath, idle, { detached: true, stdio: 'ignore' });
    const strayKilledBy = new Promise((r) => stray.once('exit', (_code, signal) => r(signal)));
    writeFileSync(join(left, 'pids'), `${stray.pid}\n${other.pid}\n`);
    await until('the processes', () => processesNaming(left).length === 1, 5000);
    try {
      // WHEN
      const removed = sweepRehearsalFolders();

      // THEN
      expect(removed).toContain(left);
      expect(removed).not.toContain(live);
      await expect(strayKilledBy).resolves.toBe('SIGKILL');
      expect(other.exitCode).toBeNull();
      expect(existsSync(left)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      stray.kill('SIGKILL');
      other.kill('SIGKILL');
      rmSync(live, { recursive: true, force: true });
      rmSync(left, { recursive: true, force: true });
    }
  });
});
