import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { dirname, join } from 'path';
import { parse as parseYaml } from 'yaml';

/**
 * The Argo CRD schemas the schema rules validate against, as generated into
 * `imports/argo-crd-schemas.json` from the pinned CRDs named in `cdk8s.yaml`.
 *
 * Only each CRD's `openAPIV3Schema` is kept (no CRD file is committed): validation must
 * work without network and without the CRD folder, like the typed classes in `imports/`.
 */

/** One kind's schema, with where it came from. */
export interface CrdSchemaEntry {
  /** the API group, e.g. `argoproj.io` */
  readonly group: string;
  /** the served version, e.g. `v1alpha1` */
  readonly version: string;
  /** the kind, e.g. `Rollout` */
  readonly kind: string;
  /** the product and release, e.g. `Argo Rollouts v1.8.3` */
  readonly release: string;
  /** the upstream URL of the CRD (from cdk8s.yaml) */
  readonly url: string;
  /** the sha256 of the CRD file it was read from */
  readonly sha256: string;
  /** the CRD's structural schema */
  readonly openAPIV3Schema: Record<string, unknown>;
}

/** The generated file. */
export interface CrdSchemaFile {
  readonly generatedBy: string;
  readonly crds: readonly CrdSchemaEntry[];
}

/** The generated file, relative to the project root. */
export const CRD_SCHEMA_FILE = 'imports/argo-crd-schemas.json';

/** The folder of the validators compiled from it ahead of time (lib/schema/standalone.ts), relative to the project root. */
export const CRD_VALIDATOR_DIR = 'imports/argo-crd-validators';

/** The index of that folder: which file validates which kind. */
export const CRD_VALIDATOR_INDEX = 'index.json';

/** The project folder (the one with cdk8s.yaml), from source or from the build output. */
export function projectRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'cdk8s.yaml')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no cdk8s.yaml above ${from}`);
  }
}

const PRODUCTS: Record<string, string> = { 'argo-rollouts': 'Argo Rollouts', 'argo-cd': 'Argo CD' };

/** One CRD import of cdk8s.yaml: `name:=https://raw.githubusercontent.com/argoproj/<repo>/<tag>/<path>`. */
interface PinnedCrd {
  readonly url: string;
  readonly repo: string;
  readonly tag: string;
  /** the file in the CRD folder: `<repo>/<basename>` */
  readonly file: string;
}

/**
 * CRDs the rules validate but the constructs never emit, so `cdk8s import` need not generate
 * classes for them: at the same tags as the imports in cdk8s.yaml.
 */
export const SCHEMA_ONLY_CRDS = [
  'argo-cluster-analysis-template:=https://raw.githubusercontent.com/argoproj/argo-rollouts/v1.8.3/manifests/crds/cluster-analysis-template-crd.yaml',
  'argo-experiment:=https://raw.githubusercontent.com/argoproj/argo-rollouts/v1.8.3/manifests/crds/experiment-crd.yaml',
  'argocd-application:=https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.0/manifests/crds/application-crd.yaml',
];

/** The CRD URLs cdk8s.yaml pins, then the schema-only ones. */
export function pinnedCrds(cdk8sYaml: string): PinnedCrd[] {
  const imports = (parseYaml(cdk8sYaml) as { imports?: string[] }).imports ?? [];
  return [...imports, ...SCHEMA_ONLY_CRDS].map((spec) => {
    const url = spec.slice(spec.indexOf(':=') + 2);
    const m = /^https:\/\/raw\.githubusercontent\.com\/argoproj\/([^/]+)\/([^/]+)\/(?:.*\/)?([^/]+\.yaml)$/.exec(url);
    if (!m || !PRODUCTS[m[1]]) throw new Error(`cdk8s.yaml: import '${spec}' is not an argoproj CRD URL at a tag`);
    return { url, repo: m[1], tag: m[2], file: `${m[1]}/${m[3]}` };
  });
}

/**
 * Builds the schema file from the CRD folder (`<repo>/<file>.yaml` and a `SHA256SUMS`),
 * for the CRDs cdk8s.yaml pins. Throws when a file is missing or its checksum differs.
 */
export function buildCrdSchemaFile(crdDir: string, cdk8sYaml: string): CrdSchemaFile {
  const sums = new Map(readFileSync(join(crdDir, 'SHA256SUMS'), 'utf8').split('\n')
    .map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2).map(([sum, file]) => [file, sum]));
  const crds = pinnedCrds(cdk8sYaml).map((pin): CrdSchemaEntry => {
    const text = readFileSync(join(crdDir, pin.file), 'utf8');
    const sha256 = createHash('sha256').update(text).digest('hex');
    if (sums.get(pin.file) !== sha256) {
      throw new Error(`${pin.file}: sha256 ${sha256} differs from SHA256SUMS (${sums.get(pin.file) ?? 'not listed'})`);
    }
    const crd = parseYaml(text) as { spec: { group: string; names: { kind: string }; versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
    const served = crd.spec.versions.filter((v) => v.served);
    if (served.length !== 1) throw new Error(`${pin.file}: expected one served version, found ${served.length}`);
    return {
      group: crd.spec.group,
      version: served[0].name,
      kind: crd.spec.names.kind,
      release: `${PRODUCTS[pin.repo]} ${pin.tag}`,
      url: pin.url,
      sha256,
      openAPIV3Schema: served[0].schema.openAPIV3Schema,
    };
  });
  return { generatedBy: 'npm run crd-schemas -- CRD_DIR (from the CRDs pinned in cdk8s.yaml); do not edit', crds };
}

/** The schema file as written (stable, one key per line so diffs are readable). */
export function renderCrdSchemaFile(file: CrdSchemaFile): string {
  return `${JSON.stringify(file, null, 1)}\n`;
}

let loaded: CrdSchemaFile | undefined;

/** The committed schema file, read once. */
export function loadCrdSchemaFile(): CrdSchemaFile {
  loaded ??= JSON.parse(readFileSync(join(projectRoot(), CRD_SCHEMA_FILE), 'utf8')) as CrdSchemaFile;
  return loaded;
}
