import { posix } from 'path';
import { LoadedManifest } from '../manifests';
import { ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { ImageCatalogue, ImageFacts } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';
import { SCRAPE_ANNOTATIONS } from '../platform/prometheus-naming';

/**
 * The one reader of a delivery: a read-only view of plain manifests (a folder of YAML, kustomize
 * output, or the objects a synth just made) that the rules, the rehearsal and `explain` share:
 * workloads and their pod templates, Services, where cluster DNS names point, and (in the other
 * modules of this folder) collectors, the series they produce, rollouts, analyses and gates,
 * traffic generators and ApplicationSets. It reads defensively, because hand-written YAML may have
 * any shape; a field of the wrong type reads as absent.
 */

/** What a model is read with: the facts the manifests cannot show. */
export interface ModelOptions {
  /** the Prometheus that scrapes the pods and answers the gates @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
  /**
   * whether `prometheus` is only what the folder's shape suggests (validate DIR without
   * --prometheus), not a setup the user or the app named: its address is then no evidence of
   * where the gates should point @default false
   */
  readonly prometheusGuessed?: boolean;
  /** what is known of the images the pods run @default - the platform's own images only (ImageCatalogue.of()) */
  readonly images?: ImageCatalogue;
}

/** The object a finding (or a diagram node) is about. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name?: string;
  /** the file it was read from, when known */
  readonly file?: string;
  /** when the object writes no namespace: what gave it the one above */
  readonly namespaceFrom?: string;
}

/** An object as `Kind/namespace/name` (empty where it has none), as findings name it. */
export function objectPath(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name ?? ''}`;
}

/** The reference of a loaded manifest as written (its own namespace only). */
export function refOf(m: LoadedManifest): ObjectRef {
  return { kind: m.object.kind, namespace: m.object.metadata?.namespace, name: m.object.metadata?.name, file: m.file };
}

/** A plain JSON object. */
export type Obj = Record<string, unknown>;

/** The value as an object, or `{}`. */
export function asObj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

/** The value as an array, or `[]`. */
export function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The value as a string, if it is one. */
export function asStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The value as a number, if it is one or a string of digits. */
export function asNum(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The string entries of a map. */
export function asStrMap(v: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(asObj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** A container port. */
export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
}

/** A container of a pod template. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly ports: readonly ContainerPort[];
  /** the container as written */
  readonly raw: Obj;
}

/** A pod template: of a workload (Deployment, Rollout, ...) or a bare Pod. */
export interface PodTemplate {
  /** the object that holds it */
  readonly owner: LoadedManifest;
  readonly ref: ObjectRef;
  readonly namespace: string;
  /** the labels written in the template */
  readonly labels: Readonly<Record<string, string>>;
  /** the labels the controller adds to every pod (values unknown until it runs), e.g. `rollouts-pod-template-hash` */
  readonly controllerLabels: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
  /** the pod spec */
  readonly spec: Obj;
  /** init and app containers */
  readonly containers: readonly Container[];
}

/** A port of a Service. */
export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** a number or a container port name; defaults to `port` */
  readonly targetPort: number | string;
}

/** A Service. */
export interface ServiceInfo {
  readonly manifest: LoadedManifest;
  readonly ref: ObjectRef;
  readonly name: string;
  readonly namespace: string;
  /** undefined for a Service without selector (endpoints managed by hand) */
  readonly selector?: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePort[];
}

/** Where a host name points inside the cluster. */
export interface ServiceHost {
  readonly name: string;
  readonly namespace: string;
  /** the Service, when the manifests define it */
  readonly service?: ServiceInfo;
}

/** Where the pod template sits in each workload kind, and the labels its controller adds to every pod. */
const WORKLOAD_KINDS: Record<string, { readonly template: (o: Obj) => unknown; readonly controllerLabels: readonly string[] }> = {
  Deployment: { template: (o) => asObj(o.spec).template, controllerLabels: ['pod-template-hash'] },
  ReplicaSet: { template: (o) => asObj(o.spec).template, controllerLabels: [] },
  StatefulSet: { template: (o) => asObj(o.spec).template, controllerLabels: ['controller-revision-hash', 'statefulset.kubernetes.io/pod-name'] },
  DaemonSet: { template: (o) => asObj(o.spec).template, controllerLabels: ['controller-revision-hash', 'pod-template-generation'] },
  Job: { template: (o) => asObj(o.spec).template, controllerLabels: ['controller-uid', 'job-name'] },
  CronJob: { template: (o) => asObj(asObj(asObj(o.spec).jobTemplate).spec).template, controllerLabels: ['controller-uid', 'job-name'] },
  Rollout: { template: (o) => asObj(o.spec).template, controllerLabels: [ROLLOUTS_POD_TEMPLATE_HASH_LABEL] },
  Pod: { template: (o) => o, controllerLabels: [] },
};

/** The namespace an object without `metadata.namespace` lands in when nothing else says. */
export const DEFAULT_NAMESPACE = 'default';

/** The suffix of in-cluster Service names. */
export const CLUSTER_DOMAIN = 'svc.cluster.local';

/** Where an object's namespace came from, when it does not write one. */
export interface NamespaceSource {
  readonly namespace: string;
  /** the evidence, for messages, e.g. `kustomization.yaml namespace` */
  readonly from: string;
}

/** An Argo CD object that deploys a folder (or folders matching a pattern) into a namespace. */
interface FolderOwner {
  /** the folder path pattern (`*` does not cross `/`), as in the repository */
  readonly path: PathPattern;
  /** the namespace, or undefined when it is the folder's basename */
  readonly namespace?: string;
  readonly from: string;
}

/** A repository folder pattern, one regex per path segment (`*` does not cross `/`: Argo CD git generator, SPEC). */
export class PathPattern {
  private readonly segments: RegExp[];

  constructor(glob: string) {
    this.segments = glob.split('/').filter((p) => p !== '' && p !== '.')
      .map((p) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`));
  }

  /**
   * Whether a folder, relative to the folder being validated, is one the pattern names. The
   * validated folder may sit anywhere in the repository, so the ends are aligned: `otel` matches
   * `deploy/manifests/*`, and `repo/apps/otel` matches `apps/*`.
   */
  public test(dir: string): boolean {
    const parts = dir.split('/');
    const n = Math.min(parts.length, this.segments.length);
    if (n === 0) return false;
    for (let i = 1; i <= n; i++) {
      if (!this.segments[this.segments.length - i].test(parts[parts.length - i])) return false;
    }
    return true;
  }
}

/** The folders Argo CD Applications and ApplicationSets deploy, with their destination namespace. */
function folderOwners(manifests: readonly LoadedManifest[]): FolderOwner[] {
  const out: FolderOwner[] = [];
  for (const m of manifests) {
    const o = m.object;
    const name = `${o.kind} ${o.metadata?.name ?? ''}`;
    if (o.kind === 'Application') {
      const spec = asObj(o.spec);
      const namespace = asStr(asObj(spec.destination).namespace);
      const paths = [asObj(spec.source), ...asArr(spec.sources).map(asObj)].map((s) => asStr(s.path)).filter((p): p is string => !!p && p !== '.');
      if (namespace) for (const p of paths) out.push({ path: new PathPattern(p), namespace, from: `${name} destination.namespace (source path ${p})` });
    }
    if (o.kind === 'ApplicationSet') {
      const spec = asObj(o.spec);
      const written = asStr(asObj(asObj(asObj(spec.template).spec).destination).namespace) ?? '';
      const basename = /^\{\{\s*\.?path\.basename\s*\}\}$/.test(written);
      if (!basename && (written === '' || written.includes('{{'))) continue;
      const dirs = asArr(spec.generators).flatMap((g) => asArr(asObj(asObj(g).git).directories)).map(asObj)
        .filter((d) => d.exclude !== true).flatMap((d) => asStr(d.path) ?? []);
      for (const d of dirs.length > 0 ? dirs : ['*']) {
        out.push({ path: new PathPattern(d), namespace: basename ? undefined : written, from: `${name} destination.namespace ${basename ? "'{{path.basename}}'" : ''}`.trim() });
      }
    }
  }
  return out;
}

/** What the tools see of a set of manifests, indexed once so every lookup is by key. */
export class DeliveryModel {
  /** every pod template */
  public readonly pods: readonly PodTemplate[];
  /**
   * the pods Argo Rollouts experiments make: an Experiment's templates, and the ReplicaSets of a
   * Rollout's experiment steps; Services may select them, but the other rules judge the templates
   * they copy, not them
   */
  public readonly experimentPods: readonly PodTemplate[];
  /** every Service */
  public readonly services: readonly ServiceInfo[];
  /** every namespace some object lands in */
  public readonly namespaces: ReadonlySet<string>;
  private readonly byKind = new Map<string, LoadedManifest[]>();
  private readonly servicesByKey = new Map<string, ServiceInfo>();
  private readonly servicesByNs = new Map<string, ServiceInfo[]>();
  private readonly podsByNs = new Map<string, PodTemplate[]>();
  private readonly podsByLabel = new Map<string, PodTemplate[]>();
  private readonly selected = new Map<ServiceInfo, PodTemplate[]>();
  private readonly selecting = new Map<PodTemplate, ServiceInfo[]>();
  private readonly owners: readonly FolderOwner[];
  private readonly folderNamespaces = new Map<string, NamespaceSource | undefined>();
  private readonly onlyNamespace?: string;

  /** the Prometheus that scrapes the pods and answers the gates */
  public readonly prometheus: PrometheusBackend;
  /** the facts known of images */
  public readonly images: ImageCatalogue;

  constructor(public readonly manifests: readonly LoadedManifest[], public readonly options: ModelOptions = {}) {
    this.prometheus = options.prometheus ?? PrometheusBackend.communityChart();
    this.images = options.images ?? ImageCatalogue.of();
    for (const m of manifests) push(this.byKind, m.object.kind, m);
    this.owners = folderOwners(manifests);
    const declared = this.ofKind('Namespace').map((m) => m.object.metadata?.name).filter((n): n is string => !!n);
    this.onlyNamespace = declared.length === 1 ? declared[0] : undefined;
    this.pods = manifests.flatMap((m) => this.podTemplateOf(m));
    this.experimentPods = [...this.ofKind('Experiment'), ...this.ofKind('Rollout')].flatMap((m) => this.experimentPodsOf(m));
    this.services = this.ofKind('Service').map((m) => this.serviceOf(m));
    this.namespaces = new Set([...manifests.map((m) => this.namespaceOf(m)), ...declared]);
    for (const p of this.pods) push(this.podsByNs, p.namespace, p);
    for (const p of [...this.pods, ...this.experimentPods]) {
      for (const [k, v] of Object.entries(p.labels)) push(this.podsByLabel, `${p.namespace}\u0000${k}=${v}`, p);
    }
    for (const s of this.services) {
      push(this.servicesByNs, s.namespace, s);
      if (!this.servicesByKey.has(`${s.namespace}/${s.name}`)) this.servicesByKey.set(`${s.namespace}/${s.name}`, s);
      const pods = this.computeSelected(s);
      this.selected.set(s, pods);
      for (const p of pods) push(this.selecting, p, s);
    }
  }

  /**
   * The namespace an object lands in, and what says so: its own `metadata.namespace`; else a
   * `--namespace` flag or its kustomization's `namespace` (set by the loader); else an Argo CD
   * Application or ApplicationSet that deploys its folder; else the set's single Namespace
   * object; else `default`.
   */
  public namespaceSourceOf(m: LoadedManifest): NamespaceSource {
    const own = m.object.metadata?.namespace;
    if (own) return { namespace: own, from: 'metadata.namespace' };
    if (m.defaultNamespace) return m.defaultNamespace;
    const dir = m.file ? posix.dirname(m.file) : '.';
    if (dir !== '.') {
      if (!this.folderNamespaces.has(dir)) {
        const owner = this.owners.find((o) => o.path.test(dir));
        this.folderNamespaces.set(dir, owner && { namespace: owner.namespace ?? posix.basename(dir), from: owner.from });
      }
      const byFolder = this.folderNamespaces.get(dir);
      if (byFolder) return byFolder;
    }
    if (this.onlyNamespace) return { namespace: this.onlyNamespace, from: `the set's only Namespace object` };
    return { namespace: DEFAULT_NAMESPACE, from: 'no namespace given anywhere' };
  }

  /** The namespace an object lands in (see {@link namespaceSourceOf}). */
  public namespaceOf(m: LoadedManifest): string {
    return this.namespaceSourceOf(m).namespace;
  }

  /** The object's reference for a finding, with the namespace it lands in and, when it writes none, why. */
  public refOf(m: LoadedManifest): ObjectRef {
    const source = this.namespaceSourceOf(m);
    return { ...refOf(m), namespace: source.namespace, ...(m.object.metadata?.namespace ? {} : { namespaceFrom: source.from }) };
  }

  /** The facts of the image a container runs, if the catalogue knows it. */
  public imageFacts(image: string): ImageFacts | undefined {
    return this.images.factsOf(image);
  }

  /** The objects of some kinds, in the order they were read. */
  public ofKind(...kinds: string[]): LoadedManifest[] {
    if (kinds.length === 1) return this.byKind.get(kinds[0]) ?? [];
    return this.manifests.filter((m) => kinds.includes(m.object.kind));
  }

  /** The Services of a namespace. */
  public servicesIn(namespace: string): readonly ServiceInfo[] {
    return this.servicesByNs.get(namespace) ?? [];
  }

  /** The pod templates of a namespace. */
  public podsIn(namespace: string): readonly PodTemplate[] {
    return this.podsByNs.get(namespace) ?? [];
  }

  /** The pod templates a Service selects. */
  public podsSelectedBy(service: ServiceInfo): readonly PodTemplate[] {
    return this.selected.get(service) ?? [];
  }

  /** The Services that select a pod template. */
  public servicesSelecting(pod: PodTemplate): readonly ServiceInfo[] {
    return this.selecting.get(pod) ?? [];
  }

  /**
   * The Service a host name points at, seen from a pod in `fromNamespace`: `name.ns.svc.cluster.local`,
   * `name.ns.svc`, `name.ns` (when the manifests define namespace `ns`) or `name`. Undefined when the
   * host is not a cluster name (a loopback or IP address, an outside name) or points into a namespace
   * these manifests do not define (nothing to judge).
   */
  public resolveHost(host: string, fromNamespace: string): ServiceHost | undefined {
    if (isLoopback(host) || /^[\d.]+$/.test(host) || host.includes('[') || host.includes('{')) return undefined;
    const parts = host.toLowerCase().replace(/\.$/, '').split('.');
    let name: string;
    let namespace: string;
    if (parts.length === 1) {
      [name, namespace] = [parts[0], fromNamespace];
    } else if (parts.length === 2 || parts.slice(2).join('.') === 'svc' || parts.slice(2).join('.') === CLUSTER_DOMAIN) {
      [name, namespace] = [parts[0], parts[1]];
    } else {
      return undefined;
    }
    if (!this.namespaces.has(namespace)) return undefined;
    return { name, namespace, service: this.servicesByKey.get(`${namespace}/${name}`) };
  }

  private computeSelected(service: ServiceInfo): PodTemplate[] {
    const selector = service.selector;
    if (!selector) return [];
    // The smallest label bucket, then the rest of the selector: a lookup, not a scan of every pod.
    const buckets = Object.entries(selector).map(([k, v]) => this.podsByLabel.get(`${service.namespace}\u0000${k}=${v}`) ?? []);
    const smallest = buckets.reduce((a, b) => (b.length < a.length ? b : a));
    return smallest.filter((p) => Object.entries(selector).every(([k, v]) => p.labels[k] === v));
  }

  private podTemplateOf(m: LoadedManifest): PodTemplate[] {
    const kind = WORKLOAD_KINDS[m.object.kind];
    if (!kind) return [];
    const template = asObj(kind.template(m.object as Obj));
    const metadata = asObj(template.metadata);
    const spec = asObj(template.spec);
    const containers = containersOf(spec);
    return [{
      owner: m,
      ref: this.refOf(m),
      namespace: this.namespaceOf(m),
      labels: asStrMap(metadata.labels),
      controllerLabels: kind.controllerLabels,
      annotations: asStrMap(metadata.annotations),
      spec,
      containers,
    }];
  }

  /**
   * The pods an Experiment runs (each of its templates, labels as written), or a Rollout's
   * experiment steps (the Rollout's template, its labels overlaid with the step template's
   * `metadata.labels`); the controller adds `rollouts-pod-template-hash` to each
   * (argo-rollouts v1.8.3 rollout/experiment.go GetExperimentFromTemplate, experiments/replicaset.go).
   */
  private experimentPodsOf(m: LoadedManifest): PodTemplate[] {
    const spec = asObj(m.object.spec);
    const templates = m.object.kind === 'Experiment'
      ? asArr(spec.templates).map(asObj).map((t) => asObj(t.template))
      : asArr(asObj(asObj(spec.strategy).canary).steps).flatMap((s) => asArr(asObj(asObj(s).experiment).templates)).map(asObj).map((t): Obj => {
        const template = asObj(spec.template);
        const metadata = asObj(template.metadata);
        return { ...template, metadata: { ...metadata, labels: { ...asStrMap(metadata.labels), ...asStrMap(asObj(t.metadata).labels) } } };
      });
    return templates.map((template) => {
      const metadata = asObj(template.metadata);
      const podSpec = asObj(template.spec);
      return {
        owner: m, ref: this.refOf(m), namespace: this.namespaceOf(m),
        labels: asStrMap(metadata.labels), controllerLabels: [ROLLOUTS_POD_TEMPLATE_HASH_LABEL], annotations: asStrMap(metadata.annotations),
        spec: podSpec, containers: containersOf(podSpec),
      };
    });
  }

  private serviceOf(m: LoadedManifest): ServiceInfo {
    const spec = asObj(m.object.spec);
    const selector = spec.selector === undefined ? undefined : asStrMap(spec.selector);
    return {
      manifest: m,
      ref: this.refOf(m),
      name: m.object.metadata?.name ?? '',
      namespace: this.namespaceOf(m),
      selector: selector && Object.keys(selector).length > 0 ? selector : undefined,
      ports: asArr(spec.ports).map(asObj).flatMap((p) => {
        const port = asNum(p.port);
        if (port === undefined) return [];
        const target = p.targetPort ?? port;
        return [{ name: asStr(p.name), port, targetPort: typeof target === 'string' && !/^\d+$/.test(target) ? target : asNum(target) ?? port }];
      }),
    };
  }
}

/** The init and app containers of a pod spec. */
function containersOf(spec: Obj): Container[] {
  return [...asArr(spec.initContainers), ...asArr(spec.containers)].map(asObj).map((c): Container => ({
    name: asStr(c.name) ?? '',
    image: asStr(c.image) ?? '',
    ports: asArr(c.ports).map(asObj).flatMap((p) => {
      const containerPort = asNum(p.containerPort);
      return containerPort === undefined ? [] : [{ name: asStr(p.name), containerPort }];
    }),
    raw: c,
  }));
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Whether a host is reachable only from inside the pod (a loopback name or address). */
export function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)$/i.test(host);
}

const MODELS = new WeakMap<readonly LoadedManifest[], DeliveryModel>();

/** The model of a set of manifests, built once per array and options and shared by every reader. */
export function modelOf(manifests: readonly LoadedManifest[], options: ModelOptions = {}): DeliveryModel {
  let model = MODELS.get(manifests);
  if (!model || model.options.prometheus !== options.prometheus || model.options.prometheusGuessed !== options.prometheusGuessed || model.options.images !== options.images) {
    model = new DeliveryModel(manifests, options);
    MODELS.set(manifests, model);
  }
  return model;
}

/** The container port number a Service targetPort or probe port names, in one container or any of a pod's. */
export function resolvePort(port: unknown, containers: readonly Container[]): number | undefined {
  const number = asNum(port);
  if (number !== undefined) return number;
  if (typeof port !== 'string') return undefined;
  return containers.flatMap((c) => c.ports).find((p) => p.name === port)?.containerPort;
}

/** `http(s)://host[:port][/...]` URLs in a text, with the port they reach (scheme default when absent). */
export function urlsIn(text: string): { url: string; scheme: string; host: string; port: number }[] {
  const out: { url: string; scheme: string; host: string; port: number }[] = [];
  for (const m of text.matchAll(/\b(https?):\/\/([a-zA-Z0-9.-]+)(?::(\d+))?[^\s"'`]*/g)) {
    out.push({ url: m[0], scheme: m[1], host: m[2], port: m[3] ? Number(m[3]) : m[1] === 'https' ? 443 : 80 });
  }
  return out;
}

/** The ports Prometheus scrapes on a pod with `prometheus.io/*` annotations: the annotated port, else every declared port. */
export function scrapedPorts(annotations: Readonly<Record<string, string>>, containers: readonly Container[]): number[] {
  if (annotations[SCRAPE_ANNOTATIONS.scrape] !== 'true') return [];
  const annotated = annotations[SCRAPE_ANNOTATIONS.port];
  if (annotated !== undefined) return /^\d+$/.test(annotated) ? [Number(annotated)] : [];
  return containers.flatMap((c) => c.ports.map((p) => p.containerPort));
}

/** `a, b, c` or `(none)`, for messages. */
export function list(items: Iterable<string | number>): string {
  const all = [...items];
  return all.length > 0 ? all.join(', ') : '(none)';
}
