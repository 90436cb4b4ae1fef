import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as nodeFs from 'fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'path';
import { App, YamlOutputType } from 'cdk8s';
import { OutputFile } from './app/output-file';
import { LoadedManifest, loadManifests, Manifest, yamlFilesUnder } from './manifests';

/** One cdk8s app of a synth and the subfolder of outdir it is written to. */
export interface SynthApp {
  /** the subfolder, e.g. `staging` ('' for outdir itself) */
  readonly folder: string;
  /** adds the app's charts and constructs */
  readonly define: (app: App) => void;
}

/**
 * The file-system calls of the lock, the recovery, the swap and the last good copy. Tests pass
 * one that fails at a chosen call, to see what each failure leaves.
 */
export type SynthFs = Pick<typeof nodeFs,
  'closeSync' | 'copyFileSync' | 'existsSync' | 'linkSync' | 'lstatSync' | 'mkdirSync' | 'openSync' | 'readdirSync'
  | 'readFileSync' | 'renameSync' | 'rmSync' | 'unlinkSync' | 'writeFileSync' | 'writeSync'>;

/** The points of a synth at which it can be stopped; {@link SafeSynthOptions.onStep} is called at each. */
export enum SynthStep {
  /** the lock is held and the folder recovered; nothing of this run written yet */
  LOCKED = 'locked',
  /** the new output is in its staging folder and checked */
  STAGED = 'staged',
  /** the output folder was renamed aside: its path is empty until the next step */
  MOVED_ASIDE = 'moved-aside',
  /** the new output is in place; the previous one is still beside it */
  SWAPPED = 'swapped',
  /** the previous output was renamed to a staging name, to be removed */
  DISCARDING = 'discarding',
  /** the previous output was removed */
  DISCARDED = 'discarded',
  /** the last good copy was written; the lock is not yet released */
  CACHED = 'cached',
}

/** What a synth left at the output folder's path. */
export enum OutputState {
  /** the output as this run found it, untouched (after putting back what a stopped run had moved aside) */
  KEPT = 'kept',
  /** the output was moved aside for the swap and moved back when the new one could not be moved in */
  PUT_BACK = 'put-back',
  /** no folder: the previous output is at `previousAt`, and the next synth moves it back */
  MOVED_ASIDE = 'moved-aside',
  /** untouched by this run, which did not get the lock: another synth of the folder is running */
  NOT_TOUCHED = 'not-touched',
  /** the new output */
  REPLACED = 'replaced',
}

/** Options of {@link synthesizeSafely}. */
export interface SafeSynthOptions {
  /** the folder to replace with the new output */
  readonly outdir: string;
  /** adds the app's charts and constructs (one app written to outdir); or give {@link apps} */
  readonly define?: (app: App) => void;
  /** several apps side by side, each in its subfolder (e.g. one per environment) */
  readonly apps?: readonly SynthApp[];
  /** judges the synthesized objects of each app (files relative to outdir); any returned line is an error and nothing is replaced */
  readonly check?: (manifests: LoadedManifest[], folder: string) => string[];
  /** where to print what the synth did besides writing (a folder put back or restored, a wait for another synth) @default - nowhere */
  readonly log?: (line: string) => void;
  /** how long to wait for another synth of the same folder before failing @default - HOTROD_SYNTH_LOCK_TIMEOUT (seconds), else 30 s */
  readonly lockTimeoutMs?: number;
  /**
   * Whether to restore a missing outdir before synthesizing, from its last good copy or else from git.
   * @default - when outdir is CDK8S_OUTDIR: `cdk8s synth` deletes that folder before it runs the app
   */
  readonly restoreMissing?: boolean;
  /**
   * Where each output folder's last good copy is kept (written by every successful synth), or
   * false for none.
   * @default - node_modules/.cache/hotrod/last-good in the nearest folder up from the current one that has node_modules
   */
  readonly lastGoodDir?: string | false;
  /** called at each step of the synth @default - kills the process at the step HOTROD_SYNTH_KILL_AT names (for tests), else nothing */
  readonly onStep?: (step: SynthStep) => void;
  /** the file-system calls of the lock, the recovery and the swap @default - node's fs */
  readonly fs?: SynthFs;
}

/** Synthesis stopped by the app, a construct validation, the check or the swap; `lines` say why, `state` what it left. */
export class SynthError extends Error {
  constructor(
    public readonly lines: string[],
    /** what is at the output folder's path now */
    public readonly state: OutputState = OutputState.KEPT,
    /** where the previous output is, when `state` is MOVED_ASIDE */
    public readonly previousAt?: string,
  ) {
    super(lines.join('\n'));
    this.name = 'SynthError';
  }
}

/** The result of a successful synth. */
export interface SafeSynthResult {
  /** the files written, relative to outdir */
  readonly files: string[];
  /** always REPLACED: the new output is in place */
  readonly state: OutputState;
  /** where the previous output was left when it could not be removed (the next synth removes it), and why */
  readonly previousLeftAt?: { readonly path: string; readonly reason: string };
}

/** How long a synth waits for another synth of its folder: HOTROD_SYNTH_LOCK_TIMEOUT seconds, else 30 s. */
function defaultLockTimeoutMs(): number {
  const seconds = Number(process.env.HOTROD_SYNTH_LOCK_TIMEOUT);
  return process.env.HOTROD_SYNTH_LOCK_TIMEOUT && seconds >= 0 ? seconds * 1000 : 30_000;
}

/**
 * Synthesizes into a staging folder beside `outdir`, checks the result, and only then swaps it
 * in for `outdir`: a failure leaves the previous output, and a success leaves exactly the new
 * output (no stale files).
 *
 * The whole synth holds a lock beside the folder (`.<name>.lock`), so synths of one folder run
 * one after the other. The swap is two renames, so a run stopped between them (a kill) leaves the
 * path empty with the previous output in `.<name>.previous-<pid>-*`; the next synth puts it back
 * before anything else. The staging and previous folders stopped synths left are removed at the
 * start of every synth. See {@link SynthStep} for the steps, {@link OutputState} for what a
 * failure leaves.
 */
export function synthesizeSafely(options: SafeSynthOptions): SafeSynthResult {
  const apps = options.apps ?? (options.define ? [{ folder: '', define: options.define }] : []);
  if (apps.length === 0) throw new SynthError(['nothing to synthesize: give define or apps']);
  const folder = new OutputFolder(options);
  const step = options.onStep ?? stepHookFromEnv();
  const lock = folder.lock(options.lockTimeoutMs ?? defaultLockTimeoutMs());
  let staging: string | undefined;
  let replaced = false;
  try {
    folder.recover(options.restoreMissing ?? isCdk8sOutdir(folder.target));
    step(SynthStep.LOCKED);
    staging = folder.makeStaging();
    const files: string[] = [];
    const problems: string[] = [];
    for (const spec of apps) {
      const outdir = join(staging, spec.folder);
      const app = new App({ outdir, yamlOutputType: YamlOutputType.FOLDER_PER_CHART_FILE_PER_RESOURCE });
      spec.define(app);
      try {
        app.synth();
      } catch (e) {
        throw new SynthError(messageLines(e).map((l) => (spec.folder ? `${spec.folder}: ${l}` : l)));
      }
      const manifests = synthesizedManifests(app, outdir).map((m) => ({ ...m, file: spec.folder ? `${spec.folder}/${m.file}` : m.file }));
      problems.push(...(options.check?.(manifests, spec.folder) ?? []));
      files.push(...new Set(manifests.map((m) => m.file!)));
      // files that are no manifests (Helm values for charts installed outside Argo CD), beside the app folders
      for (const extra of OutputFile.of(app)) {
        nodeFs.writeFileSync(join(outdir, extra.path), extra.render());
        files.push(spec.folder ? `${spec.folder}/${extra.path}` : extra.path);
      }
    }
    if (problems.length > 0) throw new SynthError(problems);
    step(SynthStep.STAGED);
    const previousLeftAt = folder.swapIn(staging, lock, step);
    replaced = true;
    folder.keepLastGood();
    step(SynthStep.CACHED);
    return { files, state: OutputState.REPLACED, previousLeftAt };
  } finally {
    if (staging) folder.remove(staging);
    // The output this run leaves is the one to restore should `cdk8s synth` delete it next.
    if (!replaced) folder.keepLastGood(true);
    lock.release();
  }
}

/** Options of {@link prepareOutput}: those of {@link synthesizeSafely} that concern the folder. */
export type PrepareOutputOptions = Pick<SafeSynthOptions, 'outdir' | 'log' | 'lockTimeoutMs' | 'restoreMissing' | 'lastGoodDir' | 'fs'>;

/**
 * What a synth does before it writes, alone: under the lock, puts back what a stopped synth
 * moved aside, restores a missing folder (`restoreMissing`), removes what stopped synths left.
 * `cli/run.js` calls it before the type check, so a type error under `cdk8s synth` leaves the
 * folder as it was too.
 */
export function prepareOutput(options: PrepareOutputOptions): void {
  const folder = new OutputFolder(options);
  const lock = folder.lock(options.lockTimeoutMs ?? defaultLockTimeoutMs());
  try {
    folder.recover(options.restoreMissing ?? isCdk8sOutdir(folder.target));
  } finally {
    lock.release();
  }
}

/** Whether `target` is the folder `cdk8s synth` handed the app (and so deleted first). */
function isCdk8sOutdir(target: string): boolean {
  const outdir = process.env.CDK8S_OUTDIR;
  return outdir !== undefined && outdir !== '' && resolve(outdir) === target;
}

/** The default step hook: a kill of this process at the step HOTROD_SYNTH_KILL_AT names, to test what each step leaves. */
function stepHookFromEnv(): (step: SynthStep) => void {
  const at = process.env.HOTROD_SYNTH_KILL_AT;
  if (!at) return () => {};
  return (step) => {
    if (step === at) process.kill(process.pid, 'SIGKILL');
  };
}

/** A staging, previous or stale-lock entry beside the output folder, with the process that made it. */
interface Sibling {
  readonly path: string;
  readonly name: string;
  readonly kind: 'staging' | 'previous' | 'lock';
  /** undefined for the names of the synths before the lock, which carry no pid */
  readonly pid?: number;
}

/** An output folder and the entries beside it: its lock, staging and previous folders, and its last good copy. */
class OutputFolder {
  readonly target: string;
  readonly parent: string;
  readonly name: string;
  private readonly fs: SynthFs;
  private readonly log: (line: string) => void;
  private readonly lastGood?: LastGood;

  constructor(options: PrepareOutputOptions) {
    this.target = resolve(options.outdir);
    this.parent = dirname(this.target);
    this.name = basename(this.target);
    this.fs = options.fs ?? nodeFs;
    this.log = options.log ?? (() => {});
    const lastGoodDir = options.lastGoodDir ?? defaultLastGoodDir();
    if (lastGoodDir) this.lastGood = new LastGood(lastGoodDir, this.target, this.fs);
  }

  /** Waits for the folder's lock and takes it; throws a SynthError (NOT_TOUCHED) naming its holder when it times out. */
  lock(timeoutMs: number): FolderLock {
    // as cdk8s does for its outdir (`cdk8s synth -o build/manifests` in a fresh clone)
    this.fs.mkdirSync(this.parent, { recursive: true });
    const lock = new FolderLock(join(this.parent, `.${this.name}.lock`), this.fs, this.log, displayPath(this.target));
    lock.acquire(timeoutMs);
    return lock;
  }

  /** A new, empty staging folder beside the output folder, named after this process. */
  makeStaging(): string {
    for (;;) {
      const path = this.siblingPath('staging');
      try {
        this.fs.mkdirSync(path);
        return path;
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw e;
      }
    }
  }

  /**
   * Under the lock, before anything else: puts back the output a stopped synth had moved aside
   * (the path is empty), else restores a missing folder when asked, then removes the staging and
   * previous folders stopped synths left.
   */
  recover(restoreMissing: boolean): void {
    const siblings = this.siblings();
    const stale = siblings.filter((s) => this.abandoned(s));
    if (!this.fs.existsSync(this.target)) {
      // A previous folder is always a whole output: it is made by one rename of the output folder,
      // and renamed to a staging name before it is removed.
      const previous = stale.filter((s) => s.kind === 'previous').sort((a, b) => this.mtime(b.path) - this.mtime(a.path))[0];
      if (previous) {
        try {
          this.fs.renameSync(previous.path, this.target);
        } catch (e) {
          throw new SynthError([`${displayPath(this.target)}/ is missing and its previous output could not be put back from ${displayPath(previous.path)}: ${errorMessage(e)}`], OutputState.MOVED_ASIDE, previous.path);
        }
        this.log(`${displayPath(this.target)}/ was missing: a synth (pid ${previous.pid ?? 'unknown'}) was stopped in the middle of its swap; put back the output it had moved aside (${previous.name})`);
        stale.splice(stale.indexOf(previous), 1);
      } else if (restoreMissing) {
        this.restore();
      }
    }
    for (const s of stale) this.remove(s.path);
  }

  /**
   * Puts `staging` where the output folder is. Returns where the previous output was left if it
   * could not be removed; throws a SynthError saying what is at the path when the swap fails.
   */
  swapIn(staging: string, lock: FolderLock, step: (step: SynthStep) => void): SafeSynthResult['previousLeftAt'] {
    const into = `could not move the new output into ${displayPath(this.target)}/`;
    lock.verify();
    if (!this.fs.existsSync(this.target)) {
      try {
        this.fs.renameSync(staging, this.target);
      } catch (e) {
        throw new SynthError([`${into}: ${errorMessage(e)}`]);
      }
      step(SynthStep.SWAPPED);
      return undefined;
    }
    const previous = this.siblingPath('previous');
    try {
      this.fs.renameSync(this.target, previous);
    } catch (e) {
      throw new SynthError([`could not move ${displayPath(this.target)}/ aside for the new output: ${errorMessage(e)}`]);
    }
    step(SynthStep.MOVED_ASIDE);
    try {
      this.fs.renameSync(staging, this.target);
    } catch (e) {
      try {
        this.fs.renameSync(previous, this.target);
      } catch (back) {
        throw new SynthError([`${into}: ${errorMessage(e)}`, `nor move the previous output back from ${displayPath(previous)}: ${errorMessage(back)}`], OutputState.MOVED_ASIDE, previous);
      }
      throw new SynthError([`${into}: ${errorMessage(e)}`], OutputState.PUT_BACK);
    }
    step(SynthStep.SWAPPED);
    // Renamed to a staging name first: a kill while it is being removed leaves part of it, which
    // must never be put back as the output.
    const discard = this.siblingPath('staging');
    try {
      this.fs.renameSync(previous, discard);
    } catch (e) {
      return { path: previous, reason: errorMessage(e) };
    }
    step(SynthStep.DISCARDING);
    try {
      this.fs.rmSync(discard, { recursive: true });
    } catch (e) {
      return { path: discard, reason: errorMessage(e) };
    }
    step(SynthStep.DISCARDED);
    return undefined;
  }

  /**
   * Makes the last good copy match the output folder (when it exists): after a success always;
   * with `ifStale`, only when it differs (after a failure, or a kill between swap and copy).
   */
  keepLastGood(ifStale = false): void {
    if (!this.lastGood) return;
    try {
      if (!this.fs.existsSync(this.target)) return;
      if (ifStale && this.lastGood.matches(this.target)) return;
      this.lastGood.write(this.target);
    } catch (e) {
      this.log(`warning: could not update the last good copy of ${displayPath(this.target)}/ in ${displayPath(this.lastGood.root)}: ${errorMessage(e)}`);
    }
  }

  /** Removes a folder of ours or of a stopped synth; a failure is printed, not thrown (the next synth tries again). */
  remove(path: string): void {
    try {
      this.fs.rmSync(path, { recursive: true, force: true });
    } catch (e) {
      this.log(`warning: could not remove ${displayPath(path)}: ${errorMessage(e)}; the next synth tries again (or remove it by hand)`);
    }
  }

  /** Restores the missing output folder from its last good copy, or from git's HEAD when git wrote it since or there is no copy. */
  private restore(): void {
    const why = `${displayPath(this.target)}/ was missing (\`cdk8s synth\` deletes its output folder before it runs the app)`;
    try {
      const copy = this.lastGood?.newest();
      const gitNewer = copy !== undefined && gitWroteSince(this.target, copy.time);
      if (copy && !gitNewer) {
        this.moveIn((staging) => this.lastGood!.copyTo(copy, staging));
        this.log(`${why}: restored its last good output, from the synth of ${new Date(copy.time).toISOString()}`);
        return;
      }
      const head = gitHeadFiles(this.target);
      if (head) {
        this.moveIn((staging) => writeGitFiles(this.parent, head, staging, this.fs));
        this.log(`${why}: restored it from git (HEAD ${head.commit.slice(0, 12)}), as ${copy ? 'git wrote files into it after its last good copy was taken' : 'there is no last good copy of it'}`);
        return;
      }
      if (copy) {
        this.moveIn((staging) => this.lastGood!.copyTo(copy, staging));
        this.log(`${why}: restored its last good output, from the synth of ${new Date(copy.time).toISOString()}`);
        return;
      }
      // Nothing to restore: a first synth into a new folder.
    } catch (e) {
      this.log(`warning: ${why}, and restoring it failed: ${errorMessage(e)}`);
    }
  }

  /** Fills a new staging folder and renames it to the (missing) output folder: it appears whole or not at all. */
  private moveIn(fill: (staging: string) => void): void {
    const staging = this.makeStaging();
    try {
      fill(staging);
      this.fs.renameSync(staging, this.target);
    } finally {
      this.remove(staging);
    }
  }

  /** `.<name>.<kind>-<pid>-<random>` beside the output folder: the pid tells the sweep whether its maker still runs. */
  private siblingPath(kind: 'staging' | 'previous'): string {
    return join(this.parent, `.${this.name}.${kind}-${process.pid}-${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}`);
  }

  private siblings(): Sibling[] {
    const prefix = `.${this.name}.`;
    const out: Sibling[] = [];
    for (const entry of this.fs.readdirSync(this.parent) as string[]) {
      if (!entry.startsWith(prefix)) continue;
      // ours: <kind>-<pid>-<8 hex>; the synths before the lock: mkdtemp's <kind>-XXXXXX
      const m = /^(staging|previous|lock\.stale)-(?:(\d+)-[0-9a-f]{8}|[A-Za-z0-9]{6})$/.exec(entry.slice(prefix.length));
      if (!m) continue;
      const kind = m[1] === 'lock.stale' ? 'lock' : (m[1] as 'staging' | 'previous');
      out.push({ path: join(this.parent, entry), name: entry, kind, pid: m[2] === undefined ? undefined : Number(m[2]) });
    }
    return out;
  }

  /**
   * Whether no running synth can own the entry. Called under the lock. A staging or previous
   * folder is made and removed only under the lock, which this process holds, so its maker has
   * ended, even when its pid runs again (pids are reused, and start from 1 in every new container).
   * A stale lock file being taken over is another waiter's, while that waiter runs. The names of
   * the synths before the lock carry no pid: those older than a minute are left over.
   */
  private abandoned(s: Sibling): boolean {
    if (s.pid === undefined) return Date.now() - this.mtime(s.path) > 60_000;
    if (s.kind !== 'lock') return true;
    return s.pid === process.pid || !processRuns(s.pid);
  }

  private mtime(path: string): number {
    try {
      return this.fs.lstatSync(path).mtimeMs;
    } catch {
      return 0;
    }
  }
}

/** Lock contents held by this process, so that its own stale lock is told from one it holds. */
const HELD = new Set<string>();

/** What a lock file says about its holder. */
interface LockHolder {
  readonly raw: string;
  readonly pid?: number;
  /** the holder's start as the kernel counts it (Linux), to tell a reused pid */
  readonly start?: string;
  /** when it took the lock (ISO) */
  readonly since?: string;
  readonly command?: string;
}

/**
 * An O_EXCL lock file beside the output folder, holding the owner's pid, start and command. A
 * lock whose owner no longer runs is taken over; otherwise a synth waits for it, up to a timeout.
 */
class FolderLock {
  private readonly content: string;

  constructor(private readonly file: string, private readonly fs: SynthFs, private readonly log: (line: string) => void, private readonly folder: string) {
    this.content = `${JSON.stringify({
      pid: process.pid,
      start: processStart(process.pid),
      since: new Date().toISOString(),
      command: [displayPath(process.argv[1] ?? ''), ...process.argv.slice(2)].join(' ').slice(0, 300),
      nonce: Math.random().toString(36).slice(2),
    })}\n`;
  }

  acquire(timeoutMs: number): void {
    const started = Date.now();
    let waiting = false;
    for (;;) {
      let fd: number;
      try {
        fd = this.fs.openSync(this.file, 'wx');
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw new SynthError([`could not create the lock ${displayPath(this.file)}: ${errorMessage(e)}`], OutputState.NOT_TOUCHED);
        const holder = this.holder(this.file);
        if (!holder) continue;
        if (this.stale(holder)) {
          this.takeOver(holder);
          continue;
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          throw new SynthError([
            `another synth of ${this.folder}/ holds its lock ${displayPath(this.file)}: ${describeHolder(holder)}`,
            `waited ${(waited / 1000).toFixed(1)} s for it; run the synth again when that one has ended (or end it: kill ${holder.pid ?? '<pid>'})`,
          ], OutputState.NOT_TOUCHED);
        }
        if (!waiting) {
          this.log(`waiting for another synth of ${this.folder}/ to end (${describeHolder(holder)}), up to ${Math.round(timeoutMs / 1000)} s`);
          waiting = true;
        }
        sleep(Math.min(25, timeoutMs - waited));
        continue;
      }
      try {
        this.fs.writeSync(fd, this.content);
      } catch (e) {
        this.fs.closeSync(fd);
        this.unlinkQuietly(this.file);
        throw new SynthError([`could not write the lock ${displayPath(this.file)}: ${errorMessage(e)}`], OutputState.NOT_TOUCHED);
      }
      this.fs.closeSync(fd);
      HELD.add(this.content);
      return;
    }
  }

  /** Throws unless this run still holds the lock (a run judged dead would have lost it): called right before the swap. */
  verify(): void {
    const holder = this.holder(this.file);
    if (holder?.raw !== this.content) {
      throw new SynthError([`this synth lost the lock of ${this.folder}/ (${holder ? describeHolder(holder) : 'no lock file'}), so it did not swap its output in`]);
    }
  }

  release(): void {
    HELD.delete(this.content);
    try {
      if (this.holder(this.file)?.raw === this.content) this.fs.unlinkSync(this.file);
    } catch (e) {
      this.log(`warning: could not remove the lock ${displayPath(this.file)}: ${errorMessage(e)}; the next synth takes it over, as this process will have ended`);
    }
  }

  private holder(file: string): LockHolder | undefined {
    let raw: string;
    try {
      raw = this.fs.readFileSync(file, 'utf8') as string;
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return undefined;
      throw new SynthError([`could not read the lock ${displayPath(file)}: ${errorMessage(e)}`], OutputState.NOT_TOUCHED);
    }
    try {
      const parsed = JSON.parse(raw) as Omit<LockHolder, 'raw'>;
      if (typeof parsed.pid === 'number') return { ...parsed, raw };
    } catch {
      // being written, or damaged: see stale()
    }
    return { raw };
  }

  private stale(holder: LockHolder): boolean {
    if (holder.pid === undefined) {
      // Written right after it is created; one that stays unreadable was left by a crash.
      try {
        return Date.now() - this.fs.lstatSync(this.file).mtimeMs > 2_000;
      } catch {
        return false;
      }
    }
    if (holder.pid === process.pid) return !HELD.has(holder.raw);
    if (!processRuns(holder.pid)) return true;
    const start = processStart(holder.pid);
    return holder.start !== undefined && start !== undefined && start !== holder.start;
  }

  /**
   * Removes a stale lock so the next try can create it. Renamed aside first and compared: two
   * waiters taking over the same stale lock must not remove the lock the first of them made.
   */
  private takeOver(holder: LockHolder): void {
    const aside = `${this.file}.stale-${process.pid}-${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}`;
    try {
      this.fs.renameSync(this.file, aside);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return;
      throw new SynthError([`could not take over the stale lock ${displayPath(this.file)}: ${errorMessage(e)}`], OutputState.NOT_TOUCHED);
    }
    const moved = this.holder(aside);
    if (moved?.raw !== holder.raw) {
      // Another waiter took the stale lock over first, and this one moved that waiter's lock: put it back.
      try {
        this.fs.linkSync(aside, this.file);
      } catch {
        // a third synth created the lock meanwhile; the waiter whose lock this was sees it in verify()
      }
    } else if (holder.pid === process.pid) {
      this.log(`took over the lock of ${this.folder}/ that an earlier synth in this process did not remove`);
    } else {
      this.log(`took over the lock of ${this.folder}/ from ${describeHolder(holder)}, which is no longer running`);
    }
    this.unlinkQuietly(aside);
  }

  private unlinkQuietly(file: string): void {
    try {
      this.fs.unlinkSync(file);
    } catch {
      // the sweep removes stale lock files of ended processes
    }
  }
}

function describeHolder(holder: LockHolder): string {
  if (holder.pid === undefined) return 'a lock file being written or damaged';
  return `pid ${holder.pid}${holder.since ? `, since ${holder.since}` : ''}${holder.command ? `: ${holder.command}` : ''}`;
}

/** A copy of an output folder as a successful synth left it. */
interface LastGoodCopy {
  /** the copy's folder (shared by its generations) */
  readonly path: string;
  /** when it was written (ms since the epoch), after the files */
  readonly time: number;
  readonly meta: LastGoodMeta;
}

interface LastGoodMeta {
  readonly outdir: string;
  readonly time: number;
  readonly dirs: string[];
  /** each file of the folder, and the name of its link in the copy's folder */
  readonly files: (FileStamp & { readonly name: string })[];
}

/** A file of a folder by path, size, mtime and inode: the copy's files are hard links, so equal stamps are the same files. */
interface FileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/**
 * The last good copy of an output folder, in `root/<hash of its absolute path>/`: hard links to
 * its files (copies across file systems) named `<generation>.<n>`, and meta.json, which maps them
 * to their paths and is replaced by a rename once the new generation's links are made; then the
 * older links go. Flat, so a new copy makes and removes no folder: a rmdir costs 2.5 ms on the
 * development machine, as much as the rest of writing the copy.
 */
class LastGood {
  private readonly dir: string;

  constructor(readonly root: string, private readonly target: string, private readonly fs: SynthFs) {
    this.dir = join(root, createHash('sha1').update(target).digest('hex').slice(0, 16));
  }

  newest(): LastGoodCopy | undefined {
    const meta = readMeta(join(this.dir, 'meta.json'), this.fs);
    return meta?.outdir === this.target ? { path: this.dir, time: meta.time, meta } : undefined;
  }

  /** Whether the copy holds exactly the folder's files, as they are. */
  matches(folder: string): boolean {
    const copy = this.newest();
    if (!copy) return false;
    const now = walk(folder, this.fs);
    const key = (f: FileStamp) => `${f.path}\0${f.size}\0${f.mtimeMs}\0${f.ino}`;
    return now.dirs.join('\0') === copy.meta.dirs.join('\0') && now.files.map(key).join('\n') === copy.meta.files.map(key).join('\n');
  }

  write(folder: string): void {
    this.fs.mkdirSync(this.dir, { recursive: true });
    const generation = `${Date.now()}-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
    const { dirs, files } = walk(folder, this.fs);
    const named = files.map((f, i) => ({ ...f, name: `${generation}.${i}` }));
    for (const f of named) linkOrCopy(join(folder, f.path), join(this.dir, f.name), this.fs);
    const meta: LastGoodMeta = { outdir: this.target, time: Date.now(), dirs, files: named };
    const written = join(this.dir, `meta.json.${generation}`);
    this.fs.writeFileSync(written, `${JSON.stringify(meta)}\n`);
    this.fs.renameSync(written, join(this.dir, 'meta.json'));
    const current = new Set(['meta.json', ...named.map((f) => f.name)]);
    for (const name of this.fs.readdirSync(this.dir) as string[]) {
      if (!current.has(name)) this.fs.rmSync(join(this.dir, name), { recursive: true, force: true });
    }
    this.prune();
  }

  copyTo(copy: LastGoodCopy, staging: string): void {
    for (const dir of copy.meta.dirs) this.fs.mkdirSync(join(staging, dir));
    for (const f of copy.meta.files) linkOrCopy(join(copy.path, f.name), join(staging, f.path), this.fs);
  }

  /**
   * Removes the copies no synth will restore, so the cache does not grow: those of folders whose
   * parent is gone (the tests' temporary folders), and those of folders gone for a day (the
   * temporary folders of `cdk8s synth --stdout`). A folder gone for less may be one that `cdk8s
   * synth` has just deleted, whose synth is about to restore it.
   */
  private prune(): void {
    const now = Date.now();
    for (const name of this.fs.readdirSync(this.root) as string[]) {
      const path = join(this.root, name);
      if (path === this.dir) continue;
      const meta = readMeta(join(path, 'meta.json'), this.fs);
      const unused = meta
        ? !this.fs.existsSync(dirname(meta.outdir)) || (now - meta.time > 86_400_000 && !this.fs.existsSync(meta.outdir))
        : now - this.fs.lstatSync(path).mtimeMs > 60_000;
      if (unused) this.fs.rmSync(path, { recursive: true, force: true });
    }
  }
}

function readMeta(file: string, fs: SynthFs): LastGoodMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8') as string) as LastGoodMeta;
  } catch {
    return undefined;
  }
}

/** node_modules/.cache/hotrod/last-good in the nearest folder up from the current one that has node_modules. */
function defaultLastGoodDir(): string | undefined {
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    if (nodeFs.existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'hotrod', 'last-good');
    if (dirname(dir) === dir) return undefined;
  }
}

/** The folders and files under `folder`, relative, sorted. */
function walk(folder: string, fs: SynthFs): { dirs: string[]; files: FileStamp[] } {
  const dirs: string[] = [];
  const files: FileStamp[] = [];
  const visit = (rel: string) => {
    for (const entry of (fs.readdirSync(join(folder, rel), { withFileTypes: true }) as nodeFs.Dirent[]).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        dirs.push(path);
        visit(path);
      } else {
        const s = fs.lstatSync(join(folder, path));
        files.push({ path, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino });
      }
    }
  };
  visit('');
  return { dirs, files };
}

function linkOrCopy(from: string, to: string, fs: SynthFs): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

/** The files git's HEAD has under `target` (paths relative to its parent), or undefined when it has none or there is no git. */
function gitHeadFiles(target: string): { commit: string; files: { mode: string; sha: string; path: string }[] } | undefined {
  const cwd = dirname(target);
  try {
    const commit = git(cwd, ['rev-parse', 'HEAD']).toString().trim();
    const files = git(cwd, ['ls-tree', '-r', '-z', 'HEAD', '--', basename(target)]).toString().split('\0').filter(Boolean).flatMap((line) => {
      const m = /^(\d+) blob ([0-9a-f]+)\t(.*)$/s.exec(line);
      return m ? [{ mode: m[1], sha: m[2], path: m[3] }] : [];
    });
    return files.length > 0 ? { commit, files } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether git wrote a tracked file under `target` after `time` (a checkout, reset or stash records each file's mtime in the index). */
function gitWroteSince(target: string, time: number): boolean {
  try {
    const listing = git(dirname(target), ['ls-files', '--debug', '--', basename(target)]).toString();
    for (const m of listing.matchAll(/^\s*mtime: (\d+):(\d+)$/gm)) {
      if (Number(m[1]) * 1000 + Number(m[2]) / 1e6 > time) return true;
    }
  } catch {
    // no git, or not a repository
  }
  return false;
}

/** Writes HEAD's files of the output folder into `staging` (one `git cat-file --batch` for all). */
function writeGitFiles(cwd: string, head: NonNullable<ReturnType<typeof gitHeadFiles>>, staging: string, fs: SynthFs): void {
  const out = git(cwd, ['cat-file', '--batch'], `${head.files.map((f) => f.sha).join('\n')}\n`);
  let at = 0;
  for (const f of head.files) {
    const eol = out.indexOf(0x0a, at);
    const size = Number(/ (\d+)$/.exec(out.subarray(at, eol).toString())![1]);
    // paths are relative to the parent, e.g. dist/otel/x.yaml
    const file = join(staging, f.path.split('/').slice(1).join('/'));
    fs.mkdirSync(dirname(file), { recursive: true });
    fs.writeFileSync(file, out.subarray(eol + 1, eol + 1 + size), { mode: f.mode === '100755' ? 0o755 : 0o644 });
    at = eol + 1 + size + 1;
  }
}

function git(cwd: string, args: string[], input?: string): Buffer {
  return execFileSync('git', args, { cwd, input, stdio: ['pipe', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
}

/** Whether a process with this pid runs (one we may not signal runs too). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM';
  }
}

/** A process's start in clock ticks since boot (Linux /proc), to tell a reused pid from the one that wrote a lock. */
function processStart(pid: number): string | undefined {
  try {
    const stat = nodeFs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A path as the user would type it: relative to the current folder when under it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The objects the app just wrote into `staging`, each with its file, in the order
 * `loadManifests` reads them, taken from the charts instead of parsing the files back (that
 * cost 59 ms at 8 objects, 1.1 s at 800). The file names follow cdk8s's
 * FOLDER_PER_CHART_FILE_PER_RESOURCE layout; if what was written differs from it in any way,
 * the files are read back instead.
 */
function synthesizedManifests(app: App, staging: string): LoadedManifest[] {
  const written = new Map(yamlFilesUnder(staging).map((file, i) => [file, i]));
  const folders = nodeFs.readdirSync(staging);
  const found: { manifest: LoadedManifest; order: number }[] = [];
  for (const chart of app.charts) {
    const id = chart.node.id;
    // cdk8s prefixes the folders with an index when charts depend on each other
    const folder = folders.includes(id) ? id : folders.find((f) => f.endsWith(`-${id}`));
    for (const object of chart.toJson() as Manifest[]) {
      const file = `${folder}/${`${object.kind}.${object.metadata?.name}`.replace(/[^0-9a-zA-Z-_.]/g, '')}${app.outputFileExtension}`;
      const order = written.get(file);
      if (folder === undefined || order === undefined) return loadManifests(staging);
      found.push({ manifest: { object, file }, order });
    }
  }
  if (found.length !== written.size) return loadManifests(staging);
  return found.sort((a, b) => a.order - b.order).map((f) => f.manifest);
}

/** The lines of an error thrown while building or synthesizing the app. */
function messageLines(e: unknown): string[] {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !/^Validation failed with the following errors:$/.test(l));
}
