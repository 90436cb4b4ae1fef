import { execFileSync } from 'child_process';
import { readdirSync, readFileSync, statSync } from 'fs';
import { join, posix, relative } from 'path';
import { LineCounter, parse as parseYaml, parseAllDocuments } from 'yaml';

/** A Kubernetes object as plain data, with where it was read from. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** A manifest and its origin. */
export interface LoadedManifest {
  /** the object */
  readonly object: Manifest;
  /** the file it came from, relative to the folder loaded, if it came from a file */
  readonly file?: string;
  /** the namespace the loader gives it when it writes none (a `--namespace` flag, its kustomization's `namespace`) */
  readonly defaultNamespace?: { readonly namespace: string; readonly from: string };
}

/** Input that cannot be read: a missing folder, or a YAML syntax error (with file, line and column). */
export class ManifestReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestReadError';
  }
}

/** Every `*.yaml`/`*.yml` file under `dir`, sorted, relative to `dir`. */
export function yamlFilesUnder(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ManifestReadError(`${dir}: no such folder`);
  }
  if (!st.isDirectory()) throw new ManifestReadError(`${dir}: not a folder`);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name === 'node_modules' || entry.name === '.git') continue;
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(entry.name) || entry.name === 'Kustomization') out.push(relative(dir, full).split('\\').join('/'));
    }
  };
  walk(dir);
  return out;
}

/** Parses a multi-document YAML text into the Kubernetes objects it holds (documents without `kind` are skipped). */
export function parseManifests(text: string, file?: string): LoadedManifest[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  if (!Array.isArray(docs)) {
    // parseAllDocuments returns an EmptyStream for an empty text.
    return [];
  }
  const out: LoadedManifest[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      const pos = lineCounter.linePos(error.pos[0]);
      throw new ManifestReadError(`${file ?? '<input>'}:${pos.line}:${pos.col}: YAML syntax error: ${error.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    const items = isList(value) ? value.items : [value];
    for (const item of items) {
      if (typeof item === 'object' && item !== null && typeof item.kind === 'string') {
        out.push({ object: { metadata: {}, ...item } as Manifest, file });
      }
    }
  }
  return out;
}

/** Loads every Kubernetes object from the YAML files under `dir`. */
export function loadManifests(dir: string): LoadedManifest[] {
  return yamlFilesUnder(dir).flatMap((file) => parseManifests(readFileSync(join(dir, file), 'utf8'), file));
}

function isList(value: unknown): value is { items: unknown[] } {
  const v = value as { kind?: unknown; items?: unknown };
  return typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items);
}

/** A collector configuration found inside a ConfigMap. */
export interface FoundCollectorConfig {
  /** the ConfigMap that holds it */
  readonly configMap: LoadedManifest;
  /** the data key it is under */
  readonly key: string;
  /** the parsed configuration */
  readonly config: Record<string, unknown>;
}

const COLLECTOR_SECTIONS = ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'service'];

/**
 * Every OpenTelemetry Collector configuration held in a ConfigMap, under any key: a YAML
 * mapping whose top level has `service` or at least two of the collector's sections.
 */
export function findCollectorConfigs(manifests: readonly LoadedManifest[]): FoundCollectorConfig[] {
  const out: FoundCollectorConfig[] = [];
  for (const m of manifests) {
    if (m.object.kind !== 'ConfigMap') continue;
    const data = (m.object.data ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(data).sort()) {
      const text = data[key];
      if (typeof text !== 'string') continue;
      let parsed: unknown;
      try {
        parsed = parseYaml(text);
      } catch {
        continue;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
      const keys = Object.keys(parsed);
      const sections = keys.filter((k) => COLLECTOR_SECTIONS.includes(k));
      if (keys.includes('service') || sections.length >= 2) {
        out.push({ configMap: m, key, config: parsed as Record<string, unknown> });
      }
    }
  }
  return out;
}

/** A finding about a file of the folder rather than an object: a file that is not YAML, a skipped chart template, a kustomize build. */
export interface FileNote {
  /** `input/not-yaml`, `input/chart-template`, `input/kustomize` */
  readonly id: string;
  readonly severity: 'error' | 'warning' | 'info';
  readonly file: string;
  readonly message: string;
  readonly fix: string;
}

/** How {@link loadFolder} reads a folder. */
export interface LoadFolderOptions {
  /** the namespace of objects that write none (`--namespace`); wins over every other evidence */
  readonly namespace?: string;
  /**
   * finds how to run `kubectl kustomize DIR` (asked only when the folder has a kustomization);
   * undefined, or a result of undefined: kustomizations are not built (their kinds are skipped)
   */
  readonly kustomize?: () => ((dir: string) => string) | undefined;
}

/** What a folder holds: its objects, and notes about files that are not plain manifests. */
export interface LoadedFolder {
  readonly manifests: LoadedManifest[];
  readonly notes: FileNote[];
}

/** The file names kustomize reads as a kustomization (sigs.k8s.io/kustomize api/konfig/general.go `RecognizedKustomizationFileNames` @ kustomize/v5.5.0). */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** The API group of kustomize's own kinds (Kustomization, Component): build input, never cluster objects. */
const KUSTOMIZE_GROUP = 'kustomize.config.k8s.io/';

/** `kubectl kustomize DIR` with the kubectl on PATH, or undefined when there is none. */
export function kubectlKustomize(): ((dir: string) => string) | undefined {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return undefined;
  }
  return (dir) => execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
}

/** Whether a file sits in a Helm chart's `templates/` folder (a `Chart.yaml` beside that folder). */
function isChartTemplate(dir: string, file: string): boolean {
  const parts = file.split('/');
  const at = parts.lastIndexOf('templates');
  return at >= 0 && at < parts.length - 1 && statSafe(join(dir, ...parts.slice(0, at), 'Chart.yaml'));
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface Kustomization {
  /** its folder, relative to the folder loaded ('' for the root) */
  readonly dir: string;
  readonly file: string;
  readonly namespace?: string;
  /** folders it builds from (resources, bases, components that are folders), relative to the folder loaded */
  readonly dirs: readonly string[];
  /** files it lists, relative to the folder loaded */
  readonly files: readonly string[];
}

function readKustomizations(dir: string, files: readonly string[]): Kustomization[] {
  return files.filter((f) => KUSTOMIZATION_FILES.includes(posix.basename(f))).flatMap((file) => {
    let body: Record<string, unknown>;
    try {
      body = (parseYaml(readFileSync(join(dir, file), 'utf8')) ?? {}) as Record<string, unknown>;
    } catch {
      return []; // reported as not YAML when its turn comes
    }
    const here = posix.dirname(file) === '.' ? '' : posix.dirname(file);
    const entries = ['resources', 'bases', 'components'].flatMap((k) => (Array.isArray(body[k]) ? body[k] as unknown[] : []))
      .filter((e): e is string => typeof e === 'string' && !/^[a-z]+:\/\//.test(e) && !e.startsWith('github.com/'))
      .map((e) => posix.normalize(posix.join(here, e)));
    const isDir = (p: string) => { try { return statSync(join(dir, p)).isDirectory(); } catch { return false; } };
    return [{
      dir: here, file,
      namespace: typeof body.namespace === 'string' ? body.namespace : undefined,
      dirs: entries.filter(isDir), files: entries.filter((e) => !isDir(e)),
    }];
  });
}

const under = (file: string, folder: string) => folder === '' || file === folder || file.startsWith(`${folder}/`);

/**
 * Loads a folder the way a platform engineer's repository holds it: every YAML file, a file
 * that is not YAML reported on its own (the rest still loaded), Helm chart templates skipped
 * with a note, and folders with a kustomization built with kustomize when it is available
 * (else their kustomize kinds are skipped and their `namespace` applied to the files they list).
 */
export function loadFolder(dir: string, options: LoadFolderOptions = {}): LoadedFolder {
  const files = yamlFilesUnder(dir);
  const notes: FileNote[] = [];
  const manifests: LoadedManifest[] = [];
  const kustomizations = readKustomizations(dir, files);
  const consumed = new Set(kustomizations.flatMap((k) => k.dirs));
  const roots = kustomizations.filter((k) => !consumed.has(k.dir));
  const built = new Set<string>();
  const flag = options.namespace ? { namespace: options.namespace, from: '--namespace' } : undefined;
  const withNamespace = (m: LoadedManifest, fallback?: LoadedManifest['defaultNamespace']): LoadedManifest => {
    const ns = flag ?? fallback;
    return ns && !m.object.metadata?.namespace ? { ...m, defaultNamespace: ns } : m;
  };

  const kustomize = roots.length > 0 ? options.kustomize?.() : undefined;
  if (kustomize) {
    for (const k of roots) {
      try {
        const out = kustomize(join(dir, k.dir || '.'));
        manifests.push(...parseManifests(out, k.file).map((m) => withNamespace(m)));
        built.add(k.dir);
        notes.push({ id: 'input/kustomize', severity: 'info', file: k.file, message: `built with kustomize (kubectl kustomize ${k.dir || '.'}): its objects are checked as kustomize renders them, overlays and patches applied`, fix: 'none needed' });
      } catch (e) {
        const stderr = String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim().split('\n')[0];
        notes.push({ id: 'input/kustomize', severity: 'error', file: k.file, message: `kubectl kustomize ${k.dir || '.'} failed: ${stderr}; its files were read one by one instead`, fix: 'fix the kustomization so that kubectl kustomize builds it' });
      }
    }
  } else if (kustomizations.length > 0) {
    notes.push({ id: 'input/kustomize', severity: 'info', file: kustomizations[0].file, message: `kustomize was not run (--no-kustomize, or no kubectl on PATH): ${list(kustomizations.map((k) => k.file))} were not built; their files were read one by one, kustomize.config.k8s.io kinds skipped, patches not applied`, fix: 'install kubectl to check what kustomize renders' });
  }
  const builtDirs = [...built].flatMap((d) => [d, ...closure(d, kustomizations)]);

  for (const file of files) {
    if (builtDirs.some((d) => under(file, d))) continue;
    if (isChartTemplate(dir, file)) {
      notes.push({ id: 'input/chart-template', severity: 'info', file, message: 'a Helm chart template (templates/ beside Chart.yaml): skipped, it is not a manifest until helm renders it', fix: 'to check it, render the chart (helm template) into a folder and validate that' });
      continue;
    }
    let loaded: LoadedManifest[];
    try {
      loaded = parseManifests(readFileSync(join(dir, file), 'utf8'), file);
    } catch (e) {
      if (!(e instanceof ManifestReadError)) throw e;
      notes.push({ id: 'input/not-yaml', severity: 'error', file, message: `${e.message.replace(`${file}:`, 'line:col ')}; the file was not checked (the rest of the folder was)`, fix: 'fix the YAML; a template (Helm, envsubst) must be rendered before it can be validated' });
      continue;
    }
    const owner = kustomizations.filter((k) => k.namespace && (k.files.includes(file) || k.dirs.some((d) => under(file, d)) || under(file, k.dir)))
      .sort((a, b) => (consumed.has(a.dir) ? 1 : 0) - (consumed.has(b.dir) ? 1 : 0))[0];
    const fromKustomization = owner?.namespace ? { namespace: owner.namespace, from: `${owner.file} namespace` } : undefined;
    for (const m of loaded) {
      if (m.object.apiVersion?.startsWith(KUSTOMIZE_GROUP)) continue;
      manifests.push(withNamespace(m, fromKustomization));
    }
  }
  return { manifests, notes };
}

/** The folders a kustomization builds from, transitively. */
function closure(dir: string, all: readonly Kustomization[], seen = new Set<string>()): string[] {
  const k = all.find((x) => x.dir === dir);
  if (!k || seen.has(dir)) return [];
  seen.add(dir);
  return k.dirs.flatMap((d) => [d, ...closure(d, all, seen)]);
}

function list(items: readonly string[]): string {
  return items.join(', ');
}
