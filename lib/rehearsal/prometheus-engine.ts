import { ChildProcess, execFileSync, spawn } from 'child_process';
import {
  accessSync, appendFileSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync,
} from 'fs';
import { Agent, request as httpRequest } from 'http';
import { createServer, Socket } from 'net';
import { cpus, tmpdir, userInfo } from 'os';
import { basename, delimiter, dirname, join } from 'path';
import { MeasurementResult } from '../analysis/condition';

/** No Prometheus engine on this machine; the message says how to install one. */
export class EngineNotFoundError extends Error {
  constructor(missing: string) {
    super(`${missing}; the rehearsal needs Prometheus's promtool and prometheus binaries (version 2.x or later). Install them with\n`
      + '  Debian/Ubuntu: sudo apt-get install prometheus\n'
      + '  macOS:         brew install prometheus\n'
      + '  elsewhere:     a release tarball from https://prometheus.io/download/ (promtool and prometheus are in it)\n'
      + 'and put them on PATH, or point PROMTOOL and PROMETHEUS at them.');
    this.name = 'EngineNotFoundError';
  }
}

/**
 * The engine failed: promtool could not backfill, or prometheus exited or did not become ready.
 * The message says how (exit code, signal, the last lines it logged); a stack adds nothing.
 */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The Prometheus binaries the rehearsal runs. */
export interface EngineBinaries {
  readonly promtool: string;
  readonly prometheus: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  return (env.PATH ?? '').split(delimiter).filter((d) => d).map((d) => join(d, name)).find(executable);
}

/**
 * Finds promtool (env `PROMTOOL`, else PATH) and prometheus (env `PROMETHEUS`, else beside
 * promtool as in a release tarball, else PATH); throws {@link EngineNotFoundError}.
 */
export function locateEngine(env: NodeJS.ProcessEnv = process.env): EngineBinaries {
  const fromEnv = (name: 'PROMTOOL' | 'PROMETHEUS') => {
    const v = env[name];
    if (v && !executable(v)) throw new EngineNotFoundError(`${name}=${v} is not an executable file`);
    return v || undefined;
  };
  const promtool = fromEnv('PROMTOOL') ?? onPath('promtool', env);
  if (!promtool) throw new EngineNotFoundError('promtool is not on PATH and PROMTOOL is not set');
  const beside = join(dirname(promtool), 'prometheus');
  const prometheus = fromEnv('PROMETHEUS') ?? (executable(beside) ? beside : onPath('prometheus', env));
  if (!prometheus) throw new EngineNotFoundError('prometheus is not on PATH (nor beside promtool) and PROMETHEUS is not set');
  return { promtool, prometheus };
}

/** A free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The longest block promtool may write: it takes the largest of TSDB's block ranges (2 h times
 * powers of 3) up to it, about 4.5 years here, so a backfill of the rehearsal's few days is one
 * block (two when it straddles a boundary). promtool reads its whole input once per block range
 * (prometheus/prometheus cmd/promtool/backfill.go @ v2.42.0, createBlocks and
 * getCompatibleBlockDuration; the flag is `.Hidden()` in cmd/promtool/main.go), and every run pays its own start:
 * the 47 scenarios of a 4-trial test backfilled in 4.1 s one run each in 2 h blocks, and in
 * 0.6 s as one run in one block.
 */
const MAX_BLOCK_DURATION = '100000h';

/** How much OpenMetrics text a streamed backfill puts in one file (one promtool run). */
const STREAM_FILE_BYTES = 256 * 1024 * 1024;

/**
 * How long a streamed backfill makes chunks before it lets the event loop run. Node handles a
 * signal, and a promtool run's exit, only between macrotasks: a file of
 * {@link STREAM_FILE_BYTES} took over a minute to make, and a SIGTERM waited that long.
 */
const STREAM_YIELD_MS = 50;

/** The chunks in `n` runs of neighbouring chunks (they are in time order), of about equal size. */
export function backfillGroups(chunks: readonly string[], n: number): string[][] {
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  const groups: string[][] = [];
  let size = 0;
  for (const chunk of chunks) {
    const share = Math.min(n - 1, Math.floor((size * n) / Math.max(total, 1)));
    (groups[share] ??= []).push(chunk);
    size += chunk.length;
  }
  return groups.filter((g) => g !== undefined && g.length > 0);
}

/** Writes OpenMetrics chunks as one exposition: each without its `# EOF`, one `# EOF` at the end. */
function writeOpenMetrics(file: string, chunks: readonly string[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const chunk of chunks) writeSync(fd, chunk.endsWith('# EOF\n') ? chunk.slice(0, -'# EOF\n'.length) : chunk);
    writeSync(fd, '# EOF\n');
  } finally {
    closeSync(fd);
  }
}

/** Prometheus's answer to an instant query, as it sends it: the result type and each series with its labels. */
export interface RawAnswer {
  readonly error?: string;
  readonly resultType?: string;
  readonly result?: unknown;
}

/** A query's answer: the result as Argo Rollouts' prometheus provider hands it to the conditions, or its error. */
export interface QueryAnswer {
  readonly result?: MeasurementResult;
  readonly error?: string;
}

/**
 * The folder of this user's rehearsals, in the system's temporary folder. Each engine keeps all its
 * data (the OpenMetrics input, the TSDB, the config, the pids it started) in one folder in it,
 * named `<owner pid>-<random>`, so that a later start can tell the folders whose owner is gone.
 */
export function rehearsalRoot(): string {
  return join(tmpdir(), `hotrod-rehearse-${process.getuid?.() ?? userInfo().username}`);
}

/** The file, in an engine's folder, of the process groups it started: a pid a line. */
const PIDS_FILE = 'pids';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's command line, or undefined when it is gone (a zombie's is empty). */
function commandLine(pid: number): string | undefined {
  try {
    if (existsSync('/proc/self/cmdline')) return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** SIGKILLs a process group, by its leader's pid. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * Removes the folders under the root whose owner process is gone: a rehearsal killed before it
 * could clean up, whose watchdogs did not either (killed as well). First kills the process groups
 * recorded there that still run, but only those whose command line names the folder, since a pid
 * may have been reused. Returns the folders it removed. {@link PrometheusEngine.start} calls it.
 */
export function sweepRehearsalFolders(root: string = rehearsalRoot()): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = /^(\d+)-/.exec(name);
    if (!owner || alive(Number(owner[1]))) continue;
    const dir = join(root, name);
    let pids: number[] = [];
    try {
      pids = readFileSync(join(dir, PIDS_FILE), 'utf8').split('\n').filter((l) => l).map(Number);
    } catch {
      // killed before it started any
    }
    for (const pid of pids) if (commandLine(pid)?.includes(`${dir}/`)) killGroup(pid);
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      removed.push(dir);
    } catch {
      // another start may be removing it; the next one tries again
    }
  }
  return removed;
}

/**
 * `sh -c WATCHDOG sh DIR COMMAND ARGS...`: starts a watcher in the background, then becomes the
 * command (exec), which so keeps the pid this process spawned and reports its own exit. The watcher
 * holds fd 3, a pipe whose other end only this process holds: when this process ends, by any
 * signal, SIGKILL too, the pipe reaches EOF and the watcher kills the command and removes DIR
 * (Node.js cannot set PR_SET_PDEATHSIG). A SIGKILLed process writes no more, and its zombie, which
 * PID 1 may reap late, holds no files: hence a short pause, not a wait for the pid to go.
 */
const WATCHDOG = [
  '(while read -r _ <&3; do :; done; kill -KILL $$; sleep 0.2; rm -rf "$1" || { sleep 1; rm -rf "$1"; }) </dev/null >/dev/null 2>&1 &',
  'shift',
  'exec "$@" </dev/null 3<&-',
].join('\n');

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A command of the engine under the watchdog, in a process group of its own (with its watcher),
 * which {@link kill} ends; its stderr is kept (the last 64 KB).
 */
class Watched {
  /** when the command has exited and its stderr is read to the end */
  public readonly exited: Promise<Exit>;
  public exit?: Exit;
  private log = '';
  private killed = false;
  private readonly child: ChildProcess;

  constructor(dir: string, command: string, args: readonly string[]) {
    this.child = spawn('/bin/sh', ['-c', WATCHDOG, 'sh', dir, command, ...args], { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    // The watcher's pipe: never read or written; it must not keep this process alive. (A spawn
    // that failed for want of file descriptors has no pipes; its 'error' says so.)
    const lifeline = this.child.stdio?.[3] as Socket | null | undefined;
    lifeline?.on('error', () => undefined);
    lifeline?.unref();
    this.child.stderr?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-65536);
    });
    const stderrEnded = new Promise((resolve) => this.child.stderr?.once('close', resolve));
    this.exited = new Promise<Exit>((resolve) => {
      // 'exit' may come before the last of stderr; 'close' waits for the watcher's pipe too
      this.child.once('exit', (code, signal) => void stderrEnded.then(() => resolve({ code, signal })));
      this.child.once('error', (e) => {
        this.log += e.message;
        resolve({ code: null, signal: null });
      });
    }).then((exit) => {
      // Its watcher is of no further use. While the watcher lives, the group's id is not free for
      // another process to take; once killed, the group is never signalled again.
      this.kill();
      return (this.exit = exit);
    });
    if (this.child.pid !== undefined) appendFileSync(join(dir, PIDS_FILE), `${this.child.pid}\n`);
  }

  /** SIGKILLs the group, once: the command and its watcher, which then leaves the folder alone. */
  public kill(): void {
    if (this.killed || this.child.pid === undefined) return;
    this.killed = true;
    killGroup(this.child.pid);
  }

  public get stderr(): string {
    return this.log;
  }

  /** The last lines it logged, on one line. */
  public lastLines(n = 3): string {
    return this.log.trim().split('\n').slice(-n).join(' | ') || 'no log output';
  }
}

function exitedError(name: string, w: Watched): EngineError {
  const { code, signal } = w.exit!;
  return new EngineError(`${name} exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${w.lastLines()}`);
}

const live = new Set<PrometheusEngine>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Whatever ends this process, no Prometheus server or temporary TSDB outlives it; a SIGKILL,
  // which no handler sees, is the watchdogs' to clean up after.
  process.on('exit', () => live.forEach((e) => e.stopNow()));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      live.forEach((e) => e.stopNow());
      process.kill(process.pid, signal);
    });
  }
}

/** Options of {@link PrometheusEngine.start}. */
export interface EngineOptions {
  /**
   * The loopback port to try first; when it is taken, free ones are tried.
   * @default - a free port the system picks
   */
  readonly port?: number;
}

/**
 * A Prometheus server on loopback over a TSDB backfilled from OpenMetrics text with
 * `promtool tsdb create-blocks-from openmetrics`. Stop it with {@link stop}; it is also
 * killed, and its folder removed, when this process exits or is interrupted, and by its watchdog
 * when this process is killed.
 */
export class PrometheusEngine {
  /**
   * Backfills the series (OpenMetrics chunks, in time order, written to as many files as there are
   * cores, each backfilled by its own promtool run) and starts the server; throws
   * {@link EngineNotFoundError} without binaries, {@link EngineError} when they fail.
   */
  public static async start(openMetricsText: string | readonly string[] | (() => Iterable<string>), binaries: EngineBinaries = locateEngine(), options: EngineOptions = {}): Promise<PrometheusEngine> {
    installExitHandlers();
    const root = rehearsalRoot();
    sweepRehearsalFolders(root);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const engine = new PrometheusEngine(mkdtempSync(join(root, `${process.pid}-`)));
    live.add(engine);
    try {
      // Blocks of different runs may overlap in time; Prometheus merges them at query time.
      if (typeof openMetricsText === 'function') {
        await engine.backfillStream(binaries.promtool, openMetricsText());
      } else {
        const chunks = typeof openMetricsText === 'string' ? [openMetricsText] : openMetricsText;
        await Promise.all(backfillGroups(chunks, cpus().length).map(async (group, i) => {
          const input = join(engine.dir, `series-${i}.om`);
          writeOpenMetrics(input, group);
          await engine.backfill(binaries.promtool, input);
          rmSync(input);
        }));
      }
      writeFileSync(join(engine.dir, 'prometheus.yml'), 'global: {}\n');
      await engine.launch(binaries.prometheus, options.port);
      return engine;
    } catch (e) {
      // the cause, not a failure to clean up after it
      try {
        engine.stopNow();
      } catch {
        // the next start sweeps the folder; the error below says what went wrong
      }
      throw e;
    }
  }

  /** what runs under the watchdog: promtool runs, then prometheus attempts */
  private readonly running = new Set<Watched>();
  private server?: Watched;
  private url = '';
  /** one connection per query in flight, kept open between queries */
  private readonly agent = new Agent({ keepAlive: true });

  private constructor(private readonly dir: string) {}

  private watch(command: string, args: readonly string[]): Watched {
    const w = new Watched(this.dir, command, args);
    this.running.add(w);
    void w.exited.then(() => this.running.delete(w));
    return w;
  }

  /**
   * Backfills chunks as they are made: they go into files of about {@link STREAM_FILE_BYTES}, each
   * backfilled by its own promtool run while the next is written, at most one run per core at once.
   */
  private async backfillStream(promtool: string, chunks: Iterable<string>): Promise<void> {
    const running: Promise<void>[] = [];
    const limit = Math.max(1, cpus().length);
    let index = 0;
    let fd: number | undefined;
    let size = 0;
    let file = '';
    const finish = async () => {
      if (fd === undefined) return;
      writeSync(fd, '# EOF\n');
      closeSync(fd);
      fd = undefined;
      const input = file;
      while (running.length >= limit) await Promise.race(running);
      const run: Promise<void> = this.backfill(promtool, input).then(() => rmSync(input)).finally(() => running.splice(running.indexOf(run), 1));
      running.push(run);
    };
    let worked = Date.now();
    for (const chunk of chunks) {
      if (Date.now() - worked >= STREAM_YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        worked = Date.now();
      }
      if (fd === undefined) {
        file = join(this.dir, `series-${index++}.om`);
        fd = openSync(file, 'w');
        size = 0;
      }
      writeSync(fd, chunk.endsWith('# EOF\n') ? chunk.slice(0, -'# EOF\n'.length) : chunk);
      size += chunk.length;
      if (size >= STREAM_FILE_BYTES) await finish();
    }
    await finish();
    await Promise.all(running);
  }

  private async backfill(promtool: string, input: string): Promise<void> {
    const w = this.watch(promtool, ['tsdb', 'create-blocks-from', `--max-block-duration=${MAX_BLOCK_DURATION}`, 'openmetrics', input, join(this.dir, 'data')]);
    const { code, signal } = await w.exited;
    if (code !== 0) throw new EngineError(`promtool could not backfill the synthetic series: ${w.stderr.trim() || `exited with code ${code ?? 'none'}, signal ${signal ?? 'none'}`}`);
  }

  /**
   * Starts prometheus on the folder; on a port another process took meanwhile, again on another
   * port, over the same data. The API is under a route prefix of this engine's own, so a
   * server that took the port (another rehearsal's) never answers for this one.
   */
  private async launch(prometheus: string, firstPort?: number): Promise<void> {
    const prefix = `/${basename(this.dir)}`;
    for (let attempt = 1; ; attempt++) {
      const port = attempt === 1 && firstPort !== undefined ? firstPort : await freePort();
      const server = this.watch(prometheus, [
        `--config.file=${join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        // The synthetic samples are dated 2025; nothing may be deleted for age.
        '--storage.tsdb.retention.time=100y',
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.route-prefix=${prefix}`,
        '--log.level=warn',
      ]);
      this.url = `http://127.0.0.1:${port}${prefix}`;
      const outcome = await Promise.race([this.ready(server), server.exited.then(() => 'exited' as const)]);
      if (outcome === 'ready') {
        this.server = server;
        return;
      }
      server.kill();
      await server.exited;
      if (outcome === 'exited' && attempt < 3 && /address already in use/.test(server.stderr)) continue;
      throw outcome === 'exited' ? exitedError('prometheus', server) : new EngineError(`prometheus did not become ready within 20s: ${server.lastLines()}`);
    }
  }

  private async ready(server: Watched): Promise<'ready' | 'timeout'> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !server.exit) {
      try {
        if ((await this.send('GET', '/-/ready')).status === 200) return 'ready';
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return 'timeout';
  }

  /**
   * A request to the server (a form for POST), its answer uncompressed: a rehearsal sends thousands
   * of small queries over loopback, where gzip (fetch asks for it) cost more CPU on both ends than
   * the queries.
   */
  private send(method: 'GET' | 'POST', path: string, form = ''): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${this.url}${path}`, {
        method,
        agent: this.agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form), 'accept-encoding': 'identity' },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(form);
    });
  }

  /**
   * {@link send} to the running server; when the server has exited, fails with how it exited
   * (a refused connection or a hung-up socket would say only that it is gone).
   */
  private async request(method: 'GET' | 'POST', path: string, form = ''): Promise<{ status: number; body: string }> {
    const server = this.server;
    if (!server) throw new EngineError('the Prometheus engine is stopped');
    if (server.exit) throw exitedError('prometheus', server);
    try {
      return await this.send(method, path, form);
    } catch (e) {
      // the error may come before the exit is seen
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([server.exited, new Promise((r) => { timer = setTimeout(r, 1000); })]);
      clearTimeout(timer);
      throw exit ? exitedError('prometheus', server) : e;
    }
  }

  /** Evaluates an instant query at a Unix time (seconds). */
  public async query(expr: string, time: number): Promise<QueryAnswer> {
    const raw = await this.queryRaw(expr, time);
    if (raw.error !== undefined) return { error: raw.error };
    switch (raw.resultType) {
      case 'vector': return { result: (raw.result as { value: [number, string] }[]).map((s) => Number(s.value[1])) };
      case 'scalar': return { result: Number((raw.result as [number, string])[1]) };
      case 'matrix': return { result: (raw.result as { values: [number, string][] }[]).flatMap((s) => s.values.map((v) => Number(v[1]))) };
      default: return { error: 'Prometheus metric type not supported' };
    }
  }

  /** An instant query, answered as Prometheus sends it: its result type and each series with its labels. */
  public async queryRaw(expr: string, time: number): Promise<RawAnswer> {
    const res = await this.request('POST', '/api/v1/query', new URLSearchParams({ query: expr, time: String(time) }).toString());
    const json = JSON.parse(res.body) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (json.status !== 'success') return { error: json.error ?? `HTTP ${res.status}` };
    return { resultType: json.data!.resultType, result: json.data!.result };
  }

  public async stop(): Promise<void> {
    // The data goes with the folder: nothing for a graceful shutdown to keep.
    const running = [...this.running];
    running.forEach((w) => w.kill());
    await Promise.all(running.map((w) => w.exited));
    this.stopNow();
  }

  /** Kills the server (and any promtool still running) and removes the folder, synchronously (for exit handlers). */
  public stopNow(): void {
    this.agent.destroy();
    this.running.forEach((w) => w.kill());
    this.server = undefined;
    // a killed process may still be writing the folder for a moment
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    live.delete(this);
  }
}
