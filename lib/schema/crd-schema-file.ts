import { createHash } from 'crypto';
import { existsSync, readFileSync } from 'fs';
import { dirname, join } from 'path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { indentQuotedContinuations } from '../manifests';

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

/** The products whose CRDs are pinned, by GitHub `owner/repo`: their name in messages. */
const PRODUCTS: Record<string, string> = {
  'argoproj/argo-rollouts': 'Argo Rollouts',
  'argoproj/argo-cd': 'Argo CD',
  'prometheus-operator/prometheus-operator': 'prometheus-operator',
  'fluxcd/flagger': 'Flagger',
};

/** One CRD import: `name:=https://raw.githubusercontent.com/<owner>/<repo>/<tag>/<path>[#Kind]`. */
interface PinnedCrd {
  readonly url: string;
  readonly repo: string;
  readonly tag: string;
  /** the file in the CRD folder: `<repo>/<basename>` */
  readonly file: string;
  /** the kind to take from a file that defines several CRDs (flagger's crd.yaml) */
  readonly kind?: string;
}

/**
 * CRDs the rules validate but the constructs never emit, so `cdk8s import` need not generate
 * classes for them: at the same tags as the imports in cdk8s.yaml.
 */
export const SCHEMA_ONLY_CRDS = [
  'argo-cluster-analysis-template:=https://raw.githubusercontent.com/argoproj/argo-rollouts/v1.8.3/manifests/crds/cluster-analysis-template-crd.yaml',
  'argo-experiment:=https://raw.githubusercontent.com/argoproj/argo-rollouts/v1.8.3/manifests/crds/experiment-crd.yaml',
  'argocd-application:=https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.0/manifests/crds/application-crd.yaml',
  // The kinds a canary platform meets beside Argo's: prometheus-operator at the line kube-prometheus-stack
  // 88.5.3 bundles (lib/platform/metrics-backend.ts), and Flagger's Canary at its latest release.
  'prometheus-operator-podmonitor:=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
  'prometheus-operator-servicemonitor:=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
  'prometheus-operator-prometheusrule:=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
  'prometheus-operator-alertmanagerconfig:=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_alertmanagerconfigs.yaml',
  'flagger-canary:=https://raw.githubusercontent.com/fluxcd/flagger/v1.44.0/artifacts/flagger/crd.yaml#Canary',
];

/** The CRD URLs cdk8s.yaml pins, then the schema-only ones. */
export function pinnedCrds(cdk8sYaml: string): PinnedCrd[] {
  const imports = (parseYaml(cdk8sYaml) as { imports?: string[] }).imports ?? [];
  return [...imports, ...SCHEMA_ONLY_CRDS].map((spec) => {
    const [url, kind] = spec.slice(spec.indexOf(':=') + 2).split('#');
    const m = /^https:\/\/raw\.githubusercontent\.com\/([^/]+\/([^/]+))\/([^/]+)\/(?:.*\/)?([^/]+\.yaml)$/.exec(url);
    if (!m || !PRODUCTS[m[1]]) throw new Error(`cdk8s.yaml: import '${spec}' is not a CRD URL at a tag of ${Object.keys(PRODUCTS).join(', ')}`);
    return { url, repo: m[1], tag: m[3], file: `${m[2]}/${m[4]}`, ...(kind ? { kind } : {}) };
  });
}

type Crd = { kind?: string; spec: { group: string; names: { kind: string }; versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Record<string, unknown> } }[] } };

/**
 * Builds the schema file from CRD folders (each `<repo>/<file>.yaml` and a `SHA256SUMS`), for
 * the CRDs cdk8s.yaml and SCHEMA_ONLY_CRDS pin: one entry per served version. A pinned file
 * that no folder holds keeps the entries `previous` has for its URL (shared/crds holds only
 * Argo's; the others are read when a folder with them is given). Throws when a file is missing
 * everywhere, or its checksum differs.
 */
export function buildCrdSchemaFile(crdDirs: string | readonly string[], cdk8sYaml: string, previous?: CrdSchemaFile): CrdSchemaFile {
  const dirs = typeof crdDirs === 'string' ? [crdDirs] : crdDirs;
  const sums = new Map(dirs.flatMap((dir) => (existsSync(join(dir, 'SHA256SUMS')) ? readFileSync(join(dir, 'SHA256SUMS'), 'utf8').split('\n') : [])
    .map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2).map(([sum, file]) => [`${dir}\u0000${file}`, sum] as const)));
  const crds = pinnedCrds(cdk8sYaml).flatMap((pin): CrdSchemaEntry[] => {
    const dir = dirs.find((d) => existsSync(join(d, pin.file)));
    if (dir === undefined) {
      const kept = previous?.crds.filter((c) => c.url === pin.url) ?? [];
      if (kept.length === 0) throw new Error(`${pin.file}: in none of ${dirs.join(', ')}, and not in the committed schema file`);
      return [...kept];
    }
    const text = readFileSync(join(dir, pin.file), 'utf8');
    const sha256 = createHash('sha256').update(text).digest('hex');
    if (sums.get(`${dir}\u0000${pin.file}`) !== sha256) {
      throw new Error(`${pin.file}: sha256 ${sha256} differs from ${join(dir, 'SHA256SUMS')} (${sums.get(`${dir}\u0000${pin.file}`) ?? 'not listed'})`);
    }
    // go-yaml reads what the yaml library refuses (quoted continuation lines at the key's indentation: flagger's descriptions)
    const docs = parseAllDocuments(indentQuotedContinuations(text) ?? text).map((d) => d.toJS() as Crd)
      .filter((c) => c?.kind === 'CustomResourceDefinition' && (!pin.kind || c.spec.names.kind === pin.kind));
    if (docs.length !== 1) throw new Error(`${pin.file}: expected one CustomResourceDefinition${pin.kind ? ` of ${pin.kind}` : ''}, found ${docs.length}`);
    const crd = docs[0];
    const served = crd.spec.versions.filter((v) => v.served);
    if (served.length === 0) throw new Error(`${pin.file}: no served version`);
    return served.map((version) => ({
      group: crd.spec.group,
      version: version.name,
      kind: crd.spec.names.kind,
      release: `${PRODUCTS[pin.repo]} ${pin.tag}`,
      url: pin.url,
      sha256,
      openAPIV3Schema: version.schema.openAPIV3Schema,
    }));
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
