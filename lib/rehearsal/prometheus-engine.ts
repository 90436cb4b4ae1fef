import { ChildProcess, execFile, spawn } from 'child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'fs';
import { Agent, request as httpRequest } from 'http';
import { createServer } from 'net';
import { cpus, tmpdir } from 'os';
import { delimiter, dirname, join } from 'path';
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

/** Runs promtool; rejects with its error output. */
function runPromtool(promtool: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(promtool, args, { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`promtool could not backfill the synthetic series: ${String(stderr).trim() || error.message}`));
      else resolve();
    });
  });
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

/** A query's answer: the result as Argo Rollouts' prometheus provider hands it to the conditions, or its error. */
export interface QueryAnswer {
  readonly result?: MeasurementResult;
  readonly error?: string;
}

const live = new Set<PrometheusEngine>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Whatever ends this process, no Prometheus server or temporary TSDB outlives it.
  process.on('exit', () => live.forEach((e) => e.stopNow()));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      live.forEach((e) => e.stopNow());
      process.kill(process.pid, signal);
    });
  }
}

/**
 * A Prometheus server on loopback over a TSDB backfilled from OpenMetrics text with
 * `promtool tsdb create-blocks-from openmetrics`. Stop it with {@link stop}; it is also
 * killed, and its folder removed, when this process exits or is interrupted.
 */
export class PrometheusEngine {
  /**
   * Backfills the series (OpenMetrics chunks, in time order, written to as many files as there are
   * cores, each backfilled by its own promtool run) and starts the server; throws
   * {@link EngineNotFoundError} without binaries.
   */
  public static async start(openMetricsText: string | readonly string[], binaries: EngineBinaries = locateEngine()): Promise<PrometheusEngine> {
    installExitHandlers();
    const dir = mkdtempSync(join(tmpdir(), 'rehearse-'));
    const engine = new PrometheusEngine(dir);
    live.add(engine);
    try {
      const chunks = typeof openMetricsText === 'string' ? [openMetricsText] : openMetricsText;
      // Blocks of different runs may overlap in time; Prometheus merges them at query time.
      await Promise.all(backfillGroups(chunks, cpus().length).map(async (group, i) => {
        const input = join(dir, `series-${i}.om`);
        writeOpenMetrics(input, group);
        await runPromtool(binaries.promtool, ['tsdb', 'create-blocks-from', `--max-block-duration=${MAX_BLOCK_DURATION}`, 'openmetrics', input, join(dir, 'data')]);
        rmSync(input);
      }));
      writeFileSync(join(dir, 'prometheus.yml'), 'global: {}\n');
      await engine.launch(binaries.prometheus);
      return engine;
    } catch (e) {
      // the cause, not a failure to clean up after it
      try {
        engine.stopNow();
      } catch {
        // the folder is in tmpdir; the error below says what went wrong
      }
      throw e;
    }
  }

  private child?: ChildProcess;
  private url = '';
  /** one connection per query in flight, kept open between queries */
  private readonly agent = new Agent({ keepAlive: true });
  private stderr = '';

  private constructor(private readonly dir: string) {}

  private async launch(prometheus: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      this.stderr = '';
      const child = spawn(prometheus, [
        `--config.file=${join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        // The synthetic samples are dated 2025; nothing may be deleted for age.
        '--storage.tsdb.retention.time=100y',
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      this.child = child;
      child.stderr!.on('data', (d) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
      this.url = `http://127.0.0.1:${port}`;
      const exited = new Promise<string>((resolve) => child.once('exit', (code) => resolve(`prometheus exited with code ${code}`)));
      child.once('error', () => undefined);
      const outcome = await Promise.race([this.ready(), exited]);
      if (outcome === 'ready') return;
      this.stopNow();
      if (attempt >= 3 || !/address already in use/.test(this.stderr)) {
        throw new Error(`${outcome}: ${this.stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`);
      }
    }
  }

  private async ready(): Promise<string> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        if ((await this.request('GET', '/-/ready')).status === 200) return 'ready';
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return 'prometheus did not become ready within 20s';
  }

  /**
   * A request to the server (a form for POST), its answer uncompressed: a rehearsal sends thousands
   * of small queries over loopback, where gzip (fetch asks for it) cost more CPU on both ends than
   * the queries.
   */
  private request(method: 'GET' | 'POST', path: string, form = ''): Promise<{ status: number; body: string }> {
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

  /** Evaluates an instant query at a Unix time (seconds). */
  public async query(expr: string, time: number): Promise<QueryAnswer> {
    const res = await this.request('POST', '/api/v1/query', new URLSearchParams({ query: expr, time: String(time) }).toString());
    const json = JSON.parse(res.body) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (json.status !== 'success') return { error: json.error ?? `HTTP ${res.status}` };
    const data = json.data!;
    switch (data.resultType) {
      case 'vector': return { result: (data.result as { value: [number, string] }[]).map((s) => Number(s.value[1])) };
      case 'scalar': return { result: Number((data.result as [number, string])[1]) };
      case 'matrix': return { result: (data.result as { values: [number, string][] }[]).flatMap((s) => s.values.map((v) => Number(v[1]))) };
      default: return { error: 'Prometheus metric type not supported' };
    }
  }

  /** Stops the server and removes its folder. */
  public async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.stopNow();
  }

  /** Kills the server and removes its folder, synchronously (for exit handlers). */
  public stopNow(): void {
    this.agent.destroy();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // a killed server may still be writing its folder for a moment
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    live.delete(this);
  }
}
