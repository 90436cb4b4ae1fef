import { Signal } from '../platform/collector-config';
import { Collector, collectorsOf, componentType, operatorServices } from './collectors';
import { asArr, asObj, Container, isLoopback, DeliveryModel, PodTemplate } from './model';
import { OTEL_ENV, OTLP_ENDPOINT_VARS, parseResourceAttributes, SERVICE_NAME_ATTRIBUTE } from '../platform/otel';
import { collectorWiring, envOf, HOST_IP_HOST, parseOtlpEndpoint, POD_IP_HOST } from './otlp';

/**
 * Where the apps' spans go: for every collector of the manifests, the containers that export
 * spans to it over OTLP (their endpoint resolved as the OTLP rules resolve it), with the service
 * name and resource attributes of their spans; the namespaces whose containers may send spans
 * where the manifests do not show; and the collectors whose spans come from elsewhere too.
 */

/** The OpenTelemetry operator's pod annotations that inject an SDK and its OTEL_* variables (`instrumentation.opentelemetry.io/inject-java`, ...). */
const INJECT_ANNOTATION_PREFIX = 'instrumentation.opentelemetry.io/inject-';

/** A container that exports spans to a collector. */
export interface SpanSource {
  readonly pod: PodTemplate;
  readonly container: Container;
  /** the service names of its spans; undefined when the manifests do not say */
  readonly services?: readonly string[];
  /** where the service names come from, for messages, e.g. `OTEL_SERVICE_NAME=checkout` */
  readonly servicesFrom: string;
  /** its resource attributes (OTEL_RESOURCE_ATTRIBUTES as the kubelet expands it); undefined when not readable */
  readonly attributes?: ReadonlyMap<string, string>;
}

/** Where the spans of the manifests' containers go. */
export interface SpanSources {
  /** the containers that export spans to each collector */
  readonly byCollector: ReadonlyMap<Collector, readonly SpanSource[]>;
  /** namespace -> containers there whose spans may reach a collector by settings the manifests do not show */
  readonly hidden: ReadonlyMap<string, readonly string[]>;
  /** collectors that also receive spans another collector of the manifests forwards: where those come from is not known */
  readonly relayed: ReadonlySet<Collector>;
}

/** Where a container's spans go: to collectors of the manifests, nowhere these manifests receive, or unknown. */
type Destination = { readonly collectors: readonly Collector[] } | 'none' | 'unknown';

/** Whether a value still holds something only the running pod knows (an unexpanded `$(VAR)`, a downward-API placeholder). */
const unresolved = (value: string) => /\$\(|\{status\./.test(value);

/** The names of the variables a container writes, resolved or not. */
const writtenVars = (container: Container) => new Set(asArr(container.raw.env).map((e) => asObj(e).name).filter((n): n is string => typeof n === 'string'));

/**
 * The service names of a container's spans: OTEL_SERVICE_NAME, else `service.name` in
 * OTEL_RESOURCE_ATTRIBUTES, else the services of a known image's endpoints; undefined when a
 * variable is set from outside the manifests or nothing says.
 */
function serviceNamesOf(model: DeliveryModel, container: Container, env: ReadonlyMap<string, string>, attributes: ReadonlyMap<string, string> | undefined): { services?: string[]; from: string } {
  if (writtenVars(container).has(OTEL_ENV.serviceName)) {
    const name = env.get(OTEL_ENV.serviceName);
    return name !== undefined && !unresolved(name) ? { services: [name], from: `${OTEL_ENV.serviceName}=${name}` } : { from: `${OTEL_ENV.serviceName} set at run time` };
  }
  if (hasEnvFrom(container)) return { from: 'variables from envFrom' };
  if (!attributes) return { from: `${OTEL_ENV.resourceAttributes} set at run time` };
  const attribute = attributes.get(SERVICE_NAME_ATTRIBUTE);
  if (attribute !== undefined) {
    return !unresolved(attribute) ? { services: [attribute], from: `${OTEL_ENV.resourceAttributes} ${SERVICE_NAME_ATTRIBUTE}=${attribute}` } : { from: `${SERVICE_NAME_ATTRIBUTE} set at run time` };
  }
  const facts = model.imageFacts(container.image);
  if (facts?.endpoints) return { services: [...new Set(facts.endpoints.map((e) => e.service))], from: `the services of ${facts.repository}` };
  return { from: 'no service name in the manifests' };
}

/** Whether a container takes variables from ConfigMaps or Secrets as a whole (`envFrom`): any OTEL_* variable may be there. */
const hasEnvFrom = (container: Container) => asArr(container.raw.envFrom).length > 0;

/** The collectors an OTLP endpoint reaches, seen from `pod` (undefined for a collector the operator runs) in `namespace`. */
function destinationOf(model: DeliveryModel, namespace: string, pod: PodTemplate | undefined, host: string, port: number): Destination {
  const { collectorsOfPod, hostPorts } = collectorWiring(model);
  if (isLoopback(host) || host === POD_IP_HOST) {
    const own = pod ? collectorsOfPod.get(pod) ?? [] : [];
    return own.length > 0 ? { collectors: own } : 'none';
  }
  if (host === HOST_IP_HOST) {
    const at = hostPorts.get(port);
    return at ? { collectors: at.collectors } : 'none';
  }
  const target = model.resolveHost(host, namespace);
  if (!target) return 'unknown'; // an address, or a name outside these manifests: it may be a collector feeding this Prometheus
  const operated = operatorServices(model).get(`${target.namespace}/${target.name}`);
  if (operated) return { collectors: [operated] };
  if (!target.service) return 'none'; // otlp/unknown-service reports it
  const collectors = [...new Set(model.podsSelectedBy(target.service).flatMap((p) => collectorsOfPod.get(p) ?? []))];
  return collectors.length > 0 ? { collectors } : 'none';
}

/**
 * Where a container's spans go. Its OTLP endpoint variable decides; without one, a known image
 * that exports OTLP sends to the SDK's default (localhost: a sidecar collector, if any), a known
 * image that does not exports nothing, and an unknown image may be set up by files the manifests
 * do not show (an init container is taken to trace nothing). Variables from ConfigMaps or Secrets
 * (`envFrom`, `valueFrom`) and the operator's injection annotations hide the endpoint too.
 */
function containerDestination(model: DeliveryModel, pod: PodTemplate, container: Container, env: ReadonlyMap<string, string>, injected: boolean): Destination {
  const variable = OTLP_ENDPOINT_VARS.find((v) => env.has(v));
  if (!variable) {
    const hidden = injected || hasEnvFrom(container) || OTLP_ENDPOINT_VARS.some((v) => writtenVars(container).has(v));
    if (hidden) return 'unknown';
    const facts = model.imageFacts(container.image);
    if (!facts) return asArr(pod.spec.initContainers).includes(container.raw) ? 'none' : 'unknown';
    return facts.otlpProtocol ? destinationOf(model, pod.namespace, pod, 'localhost', 0) : 'none';
  }
  const value = env.get(variable)!;
  const endpoint = parseOtlpEndpoint(value);
  if (!endpoint || unresolved(value.replace(/\{status\.(podIP|hostIP)\}/g, ''))) return 'unknown';
  return destinationOf(model, pod.namespace, pod, endpoint.host, endpoint.port);
}

/** Every string in a configuration block, nested ones included. */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(stringsIn);
  return [];
}

/** The collectors of the manifests that a collector's traces exporters send to (an agent forwarding to a gateway). */
function forwardedTo(model: DeliveryModel, collector: Collector): Collector[] {
  const c = collector.config;
  const connectors = new Set(c.ids('connectors'));
  const exporters = new Set(c.pipelines.filter((p) => p.signal === Signal.TRACES).flatMap((p) => p.exporters).filter((id) => !connectors.has(id)));
  const out = new Set<Collector>();
  // a loopback host is the pod's own other collector (a chain of sidecars); any other is seen from the collector's namespace
  const pods: (PodTemplate | undefined)[] = collector.pods.length > 0 ? collector.pods.map((p) => p.pod) : [undefined];
  for (const id of exporters) {
    for (const text of stringsIn(c.configOf('exporters', id))) {
      const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/:\s]+)(?::(\d+))?/i.exec(text.trim());
      if (!m) continue;
      const [host, port] = [m[1], Number(m[2] ?? 0)];
      for (const pod of isLoopback(host) ? pods : pods.slice(0, 1)) {
        const d = destinationOf(model, collector.ref.namespace ?? '', pod, host, port);
        if (typeof d === 'object') d.collectors.filter((x) => x !== collector).forEach((x) => out.add(x));
      }
    }
  }
  return [...out];
}

const SOURCES = new WeakMap<DeliveryModel, SpanSources>();

/** Where the spans of the manifests' containers go, read once per model. */
export function spanSources(model: DeliveryModel): SpanSources {
  const cached = SOURCES.get(model);
  if (cached) return cached;
  const byCollector = new Map<Collector, SpanSource[]>();
  const hidden = new Map<string, string[]>();
  const collectorContainers = new Set(collectorsOf(model).flatMap((c) => c.pods.flatMap((p) => p.containers)));
  for (const pod of model.pods) {
    const injected = Object.entries(pod.annotations).some(([k, v]) => k.startsWith(INJECT_ANNOTATION_PREFIX) && v !== 'false');
    for (const container of pod.containers) {
      if (collectorContainers.has(container)) continue;
      const env = envOf(container.raw, pod.namespace);
      const destination = containerDestination(model, pod, container, env, injected);
      if (destination === 'none') continue;
      if (destination === 'unknown') {
        const list = hidden.get(pod.namespace) ?? [];
        list.push(`${pod.ref.kind} ${pod.namespace}/${pod.ref.name} container '${container.name}' (${container.image})`);
        hidden.set(pod.namespace, list);
        continue;
      }
      // written variables win over envFrom; without either, the SDK sets no attribute
      const text = env.get(OTEL_ENV.resourceAttributes);
      const attributes = text !== undefined ? parseResourceAttributes(text)
        : writtenVars(container).has(OTEL_ENV.resourceAttributes) || hasEnvFrom(container) ? undefined : new Map<string, string>();
      const { services, from } = serviceNamesOf(model, container, env, attributes);
      const source: SpanSource = { pod, container, services, servicesFrom: from, attributes };
      for (const c of destination.collectors) {
        const list = byCollector.get(c) ?? [];
        list.push(source);
        byCollector.set(c, list);
      }
    }
  }
  const relayed = new Set(collectorsOf(model).flatMap((c) => forwardedTo(model, c)));
  const sources = { byCollector, hidden, relayed };
  SOURCES.set(model, sources);
  return sources;
}

/** Processors that pass spans on without changing their resource: the service names and attributes the apps set arrive as set. */
const PASS_THROUGH_PROCESSORS: ReadonlySet<string> = new Set(['batch', 'memory_limiter', 'filter', 'probabilistic_sampler', 'tail_sampling']);
/** Processors that add Kubernetes attributes and may name services from pod metadata: the namespace holds, the service names may not. */
const KUBERNETES_PROCESSORS: ReadonlySet<string> = new Set(['k8sattributes']);

/** How well a collector's spanmetrics connector knows its spans' origin, from the traces pipelines that feed it. */
export interface ConnectorInput {
  /** why the spans may come from anywhere (a non-OTLP receiver, a processor rewriting resources, a forwarding collector); undefined when only the OTLP sources feed it */
  readonly unknownOrigin?: string;
  /** whether the service names the apps set reach the connector unchanged */
  readonly servicesKept: boolean;
}

/** What feeds a spanmetrics connector of a collector: only OTLP receivers (the span sources), and which processors on the way. */
export function connectorInput(model: DeliveryModel, collector: Collector, connectorId: string): ConnectorInput {
  if (spanSources(model).relayed.has(collector)) return { unknownOrigin: 'another collector of the manifests forwards spans to it', servicesKept: false };
  const c = collector.config;
  const feeding = c.pipelines.filter((p) => p.signal === Signal.TRACES && p.exporters.includes(connectorId));
  const receiver = feeding.flatMap((p) => p.receivers).find((r) => componentType(r) !== 'otlp');
  if (receiver) return { unknownOrigin: `its traces pipeline also receives from '${receiver}'`, servicesKept: false };
  const processors = feeding.flatMap((p) => p.processors).map(componentType);
  const rewriting = processors.find((p) => !PASS_THROUGH_PROCESSORS.has(p) && !KUBERNETES_PROCESSORS.has(p));
  if (rewriting) return { unknownOrigin: `processor '${rewriting}' may rewrite the spans' resources`, servicesKept: false };
  return { servicesKept: !processors.some((p) => KUBERNETES_PROCESSORS.has(p)) };
}
