import { readdirSync, readFileSync, statSync } from 'fs';
import { join, relative } from 'path';
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
      else if (/\.ya?ml$/.test(entry.name)) out.push(relative(dir, full));
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
