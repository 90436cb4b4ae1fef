import { PrometheusBackend } from '../metrics-backend';
import { RuleContext } from './types';
import { posix } from 'path';
import { ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../canary-rollout';
import { LoadedManifest } from '../manifests';
import { ObjectRef, refOf } from './types';

/**
 * A read-only view of plain manifests that the rules share: workloads and their pod
 * templates, Services, and where cluster DNS names point. It reads defensively, because
 * hand-written YAML may have any shape; a field of the wrong type reads as absent.
 */

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
const DEFAULT_NAMESPACE = 'default';

/** The suffix of in-cluster Service names. */
const CLUSTER_DOMAIN = 'svc.cluster.local';

/** What the rules see of a set of manifests. */
export class ManifestModel {
  /** every pod template */
  public readonly pods: readonly PodTemplate[];
  /** every Service */
  public readonly services: readonly ServiceInfo[];
  /** every namespace some object lands in */
  public readonly namespaces: ReadonlySet<string>;
  private readonly appFolderNamespaces: boolean;

  constructor(public readonly manifests: readonly LoadedManifest[], public readonly prometheus: PrometheusBackend = PrometheusBackend.communityChart()) {
    this.appFolderNamespaces = manifests.some((m) => isFolderNamespacedAppSet(m.object));
    this.pods = manifests.flatMap((m) => this.podTemplateOf(m));
    this.services = manifests.filter((m) => m.object.kind === 'Service').map((m) => this.serviceOf(m));
    this.namespaces = new Set(manifests.map((m) => this.namespaceOf(m)));
  }

  /**
   * The namespace an object lands in: its own; else, when an ApplicationSet deploys each
   * folder into the namespace named after it (`{{path.basename}}`), its folder's name; else `default`.
   */
  public namespaceOf(m: LoadedManifest): string {
    const own = m.object.metadata?.namespace;
    if (own) return own;
    if (this.appFolderNamespaces && m.file && posix.dirname(m.file) !== '.') return posix.basename(posix.dirname(m.file));
    return DEFAULT_NAMESPACE;
  }

  /** The object's reference for a finding, with the namespace it lands in. */
  public refOf(m: LoadedManifest): ObjectRef {
    return { ...refOf(m), namespace: this.namespaceOf(m) };
  }

  /** The objects of a kind. */
  public ofKind(...kinds: string[]): LoadedManifest[] {
    return this.manifests.filter((m) => kinds.includes(m.object.kind));
  }

  /** The pod templates a Service selects. */
  public podsSelectedBy(service: ServiceInfo): PodTemplate[] {
    const selector = service.selector;
    if (!selector) return [];
    return this.pods.filter((p) => p.namespace === service.namespace && Object.entries(selector).every(([k, v]) => p.labels[k] === v));
  }

  /**
   * The Service a host name points at, seen from a pod in `fromNamespace`: `name.ns.svc.cluster.local`,
   * `name.ns.svc`, `name.ns` (when the manifests define namespace `ns`) or `name`. Undefined when the
   * host is not a cluster name or points into a namespace these manifests do not define (nothing to judge).
   */
  public resolveHost(host: string, fromNamespace: string): ServiceHost | undefined {
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
    return { name, namespace, service: this.services.find((s) => s.name === name && s.namespace === namespace) };
  }

  private podTemplateOf(m: LoadedManifest): PodTemplate[] {
    const kind = WORKLOAD_KINDS[m.object.kind];
    if (!kind) return [];
    const template = asObj(kind.template(m.object as Obj));
    const metadata = asObj(template.metadata);
    const spec = asObj(template.spec);
    const containers = [...asArr(spec.initContainers), ...asArr(spec.containers)].map(asObj).map((c): Container => ({
      name: asStr(c.name) ?? '',
      image: asStr(c.image) ?? '',
      ports: asArr(c.ports).map(asObj).flatMap((p) => {
        const containerPort = asNum(p.containerPort);
        return containerPort === undefined ? [] : [{ name: asStr(p.name), containerPort }];
      }),
      raw: c,
    }));
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

/** An ApplicationSet that deploys each folder into the namespace named after the folder. */
function isFolderNamespacedAppSet(o: LoadedManifest['object']): boolean {
  if (o.kind !== 'ApplicationSet') return false;
  const destination = asObj(asObj(asObj(asObj(o.spec).template).spec).destination);
  return /^\{\{\s*\.?path\.basename\s*\}\}$/.test(asStr(destination.namespace) ?? '');
}

const MODELS = new WeakMap<readonly LoadedManifest[], Map<PrometheusBackend | undefined, ManifestModel>>();

/** The model of a set of manifests in an environment, built once per array and shared by every rule. */
export function modelOf(manifests: readonly LoadedManifest[], context: RuleContext = {}): ManifestModel {
  let byBackend = MODELS.get(manifests);
  if (!byBackend) MODELS.set(manifests, byBackend = new Map());
  let model = byBackend.get(context.prometheus);
  if (!model) {
    model = new ManifestModel(manifests, context.prometheus ?? PrometheusBackend.communityChart());
    byBackend.set(context.prometheus, model);
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
