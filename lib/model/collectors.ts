import {
  HEALTH_CHECK_DEFAULT_PATH,
  ListenerProtocol,
  PROMETHEUS_EXPORTER_PATH,
  Signal,
  SpanmetricsConnector,
  spanmetricsSeries,
  SpanmetricsSeries,
} from '../platform/collector-config';
import { parse as parseYaml } from 'yaml';
import { findCollectorConfigs, FoundCollectorConfig } from '../manifests';
import { asArr, asObj, asStr, Container, isLoopback, DeliveryModel, Obj, PodTemplate } from './model';

export { isLoopback };
import { ObjectRef } from './model';

/**
 * An OpenTelemetry Collector (v0.142) configuration read from plain YAML, with the facts
 * the collector applies at startup (defaults, connector signal pairs), and the pods that run it.
 */

/** The component sections of a collector configuration. */
export const COMPONENT_SECTIONS = ['receivers', 'processors', 'exporters', 'connectors', 'extensions'] as const;

/** A component section. */
export type ComponentSection = typeof COMPONENT_SECTIONS[number];

/** The signals a pipeline id may start with. */
export const PIPELINE_SIGNALS: readonly string[] = [Signal.TRACES, Signal.METRICS, Signal.LOGS, 'profiles'];

/** What the collector requires of a component type: `^[a-zA-Z][0-9a-zA-Z_]{0,62}$`. */
export const COMPONENT_TYPE = /^[a-zA-Z][0-9a-zA-Z_]{0,62}$/;

const S = Signal;
const SAME_SIGNAL = [[S.TRACES, S.TRACES], [S.METRICS, S.METRICS], [S.LOGS, S.LOGS]] as const;

/** The signal pairs (exporter side -> receiver side) of the connectors the contrib distribution ships. */
export const CONNECTOR_SIGNALS: Readonly<Record<string, ReadonlyArray<readonly [Signal, Signal]>>> = {
  spanmetrics: new SpanmetricsConnector().supportedSignals,
  servicegraph: [[S.TRACES, S.METRICS]],
  exceptions: [[S.TRACES, S.METRICS], [S.TRACES, S.LOGS]],
  count: [[S.TRACES, S.METRICS], [S.METRICS, S.METRICS], [S.LOGS, S.METRICS]],
  signaltometrics: [[S.TRACES, S.METRICS], [S.METRICS, S.METRICS], [S.LOGS, S.METRICS]],
  forward: SAME_SIGNAL,
  routing: SAME_SIGNAL,
  roundrobin: SAME_SIGNAL,
  failover: SAME_SIGNAL,
};

/** The host a component binds when its endpoint is not set (since v0.104). */
export const DEFAULT_BIND_HOST = 'localhost';

/** How a listener is reached: a TCP or a UDP port. */
export type Transport = 'TCP' | 'UDP';

/** What a listener speaks: OTLP, plain HTTP, or another wire protocol (`jaeger-grpc`, `zipkin`, ...). */
export type AnyListenerProtocol = ListenerProtocol | `other:${string}`;

interface ListenerFact {
  readonly section: ComponentSection;
  readonly type: string;
  /** the block holding `endpoint`; a present key enables it */
  readonly block: readonly string[];
  readonly protocol: AnyListenerProtocol;
  readonly transport?: Transport;
  /** the port bound when the endpoint is not set */
  readonly defaultPort?: number;
  readonly path?: (cfg: Obj) => string;
  /** whether something outside the pod connects (apps, Prometheus, the kubelet's probes) */
  readonly external: boolean;
}

const receiver = (type: string, block: readonly string[], protocol: AnyListenerProtocol, defaultPort: number | undefined, transport: Transport = 'TCP'): ListenerFact =>
  ({ section: 'receivers', type, block, protocol, defaultPort, transport, external: true });

/**
 * Where components of known types listen. The receivers and their default ports are the
 * operator's table of listening receivers (open-telemetry/opentelemetry-operator
 * internal/components/receivers/helpers.go @ v0.142.0), checked against the receivers'
 * factories in open-telemetry/opentelemetry-collector-contrib @ v0.142.0:
 * receiver/jaegerreceiver/factory.go (grpc localhost:14250, thrift_http :14268, thrift_compact
 * :6831 UDP, thrift_binary :6832 UDP; only the protocols written are enabled),
 * receiver/zipkinreceiver/factory.go (localhost:9411), receiver/skywalkingreceiver/factory.go
 * (grpc 11800, http 12800). opencensus (55678) is kept for configs older than its removal.
 */
const LISTENER_FACTS: readonly ListenerFact[] = [
  receiver('otlp', ['protocols', 'grpc'], ListenerProtocol.OTLP_GRPC, 4317),
  receiver('otlp', ['protocols', 'http'], ListenerProtocol.OTLP_HTTP, 4318),
  receiver('jaeger', ['protocols', 'grpc'], 'other:jaeger-grpc', 14250),
  receiver('jaeger', ['protocols', 'thrift_http'], 'other:jaeger-thrift-http', 14268),
  receiver('jaeger', ['protocols', 'thrift_compact'], 'other:jaeger-thrift-compact', 6831, 'UDP'),
  receiver('jaeger', ['protocols', 'thrift_binary'], 'other:jaeger-thrift-binary', 6832, 'UDP'),
  receiver('skywalking', ['protocols', 'grpc'], 'other:skywalking-grpc', 11800),
  receiver('skywalking', ['protocols', 'http'], 'other:skywalking-http', 12800),
  receiver('loki', ['protocols', 'grpc'], 'other:loki-grpc', 9095),
  receiver('loki', ['protocols', 'http'], 'other:loki-http', 3100),
  receiver('zipkin', [], 'other:zipkin', 9411),
  receiver('opencensus', [], 'other:opencensus', 55678),
  receiver('awsxray', [], 'other:awsxray', 2000, 'UDP'),
  receiver('carbon', [], 'other:carbon', 2003),
  receiver('collectd', [], 'other:collectd', 8081),
  receiver('fluentforward', [], 'other:fluentforward', 8006),
  receiver('influxdb', [], 'other:influxdb', 8086),
  receiver('sapm', [], 'other:sapm', 7276),
  receiver('signalfx', [], 'other:signalfx', 9943),
  receiver('splunk_hec', [], 'other:splunk_hec', 8088),
  receiver('statsd', [], 'other:statsd', 8125, 'UDP'),
  receiver('tcplog', [], 'other:tcplog', undefined),
  receiver('udplog', [], 'other:udplog', undefined, 'UDP'),
  { section: 'exporters', type: 'prometheus', block: [], protocol: ListenerProtocol.HTTP, path: () => PROMETHEUS_EXPORTER_PATH, external: true },
  { section: 'extensions', type: 'health_check', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 13133, path: (cfg) => asStr(cfg.path) ?? HEALTH_CHECK_DEFAULT_PATH, external: true },
  { section: 'extensions', type: 'zpages', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 55679, external: false },
  { section: 'extensions', type: 'pprof', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 1777, external: false },
];

/**
 * Receivers whose `endpoint` is the remote target they scrape or poll, never an address they
 * bind: `localhost:6379` on a redis receiver in a sidecar is right. The operator's table of
 * scraper receivers (open-telemetry/opentelemetry-operator internal/components/receivers/helpers.go
 * @ v0.142.0, `NewScraperParser`), plus host and cluster receivers that bind nothing.
 */
export const SCRAPER_RECEIVERS: ReadonlySet<string> = new Set([
  'prometheus', 'sshcheck', 'cloudfoundry', 'vcenter', 'oracledb', 'snmp', 'googlecloudpubsub', 'chrony', 'jmx', 'podman_stats',
  'pulsar', 'docker_stats', 'aerospike', 'zookeeper', 'prometheus_simple', 'saphana', 'riak', 'redis', 'rabbitmq', 'purefb',
  'postgresql', 'nsxt', 'nginx', 'mysql', 'memcached', 'httpcheck', 'haproxy', 'flinkmetrics', 'couchdb', 'filelog',
  'kubeletstats', 'k8s_events', 'k8s_cluster', 'k8sobjects', 'hostmetrics', 'apache', 'elasticsearch', 'mongodb', 'kafkametrics',
  'sqlquery', 'activedirectoryds', 'iis', 'sqlserver', 'journald', 'k8slog', 'otlpjsonfile', 'kafka',
]);

/** Where the collector serves its own metrics unless `service.telemetry.metrics` says otherwise. */
const TELEMETRY_DEFAULT_ENDPOINT = 'localhost:8888';

/** A pipeline of `service.pipelines`. */
export interface PipelineRef {
  /** `signal[/name]` */
  readonly id: string;
  readonly signal: string;
  readonly receivers: readonly string[];
  readonly processors: readonly string[];
  readonly exporters: readonly string[];
}

/** A port a used component binds. */
export interface CollectorListener {
  /** the component id, e.g. `otlp` */
  readonly componentId: string;
  readonly section: ComponentSection | 'service';
  /** where the endpoint is written, e.g. `receivers.otlp.protocols.http.endpoint` */
  readonly field: string;
  /** the endpoint as written, if it is */
  readonly written?: string;
  readonly host: string;
  /** undefined when neither written nor defaulted */
  readonly port?: number;
  readonly protocol: AnyListenerProtocol;
  readonly transport: Transport;
  /** the HTTP path served, where it matters */
  readonly path?: string;
  /** whether something outside the pod connects to it */
  readonly external: boolean;
  /** false for a receiver of a type these rules do not know: it may listen there, or dial there */
  readonly known: boolean;
}

/** The type part of a component id (`otlp/jaeger` -> `otlp`). */
export function componentType(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}

/** `host:port` -> parts; `${env:POD_IP}:4317` and `[::]:4317` included. */
export function parseEndpoint(endpoint: string | undefined, defaultPort?: number, defaultHost: string = DEFAULT_BIND_HOST): { host: string; port?: number } {
  if (endpoint === undefined) return { host: defaultHost, port: defaultPort };
  const m = /^(.*):(\d+)$/.exec(endpoint.trim());
  return m ? { host: m[1], port: Number(m[2]) } : { host: endpoint.trim(), port: defaultPort };
}

/** A collector configuration as plain data. */
export class PlainCollectorConfig {
  public readonly sections: Readonly<Record<ComponentSection, Obj>>;
  public readonly pipelines: readonly PipelineRef[];
  /** `service.extensions` */
  public readonly serviceExtensions: readonly string[];

  private listenersCache?: CollectorListener[];

  /**
   * @param raw the configuration
   * @param defaultBindHost the host of an endpoint left unset: `localhost` for the collector
   *   itself (since v0.104), `0.0.0.0` where the operator fills receiver and extension defaults
   */
  constructor(public readonly raw: Obj, public readonly defaultBindHost: string = DEFAULT_BIND_HOST) {
    this.sections = Object.fromEntries(COMPONENT_SECTIONS.map((s) => [s, asObj(raw[s])])) as Record<ComponentSection, Obj>;
    const service = asObj(raw.service);
    const ids = (v: unknown) => asArr(v).map((x) => String(x));
    this.pipelines = Object.entries(asObj(service.pipelines)).map(([id, p]) => {
      const body = asObj(p);
      return { id, signal: componentType(id), receivers: ids(body.receivers), processors: ids(body.processors), exporters: ids(body.exporters) };
    });
    this.serviceExtensions = ids(service.extensions);
  }

  /** The ids configured in a section. */
  public ids(section: ComponentSection): string[] {
    return Object.keys(this.sections[section]);
  }

  /** A component's configuration block (`{}` when empty or absent). */
  public configOf(section: ComponentSection, id: string): Obj {
    return asObj(this.sections[section][id]);
  }

  /** The ids the collector builds: used by a pipeline, or listed in `service.extensions`. */
  public used(section: ComponentSection): Set<string> {
    if (section === 'extensions') return new Set(this.serviceExtensions);
    const out = new Set<string>();
    for (const p of this.pipelines) {
      if (section === 'receivers' || section === 'connectors') p.receivers.forEach((r) => out.add(r));
      if (section === 'processors') p.processors.forEach((r) => out.add(r));
      if (section === 'exporters' || section === 'connectors') p.exporters.forEach((r) => out.add(r));
    }
    const configured = new Set(this.ids(section));
    return new Set([...out].filter((id) => configured.has(id)));
  }

  /** Every port a component the collector builds binds (read once). */
  public listeners(): CollectorListener[] {
    this.listenersCache ??= this.readListeners();
    return this.listenersCache;
  }

  private readListeners(): CollectorListener[] {
    const out: CollectorListener[] = [];
    for (const section of COMPONENT_SECTIONS) {
      for (const id of this.used(section)) {
        const cfg = this.configOf(section, id);
        const type = componentType(id);
        const facts = LISTENER_FACTS.filter((f) => f.section === section && f.type === type);
        // The operator fills unset receiver and extension endpoints, not exporter ones.
        const unsetHost = section === 'exporters' ? DEFAULT_BIND_HOST : this.defaultBindHost;
        for (const f of facts) {
          let block: unknown = cfg;
          for (const key of f.block) {
            const holder = asObj(block);
            if (!(key in holder)) { block = undefined; break; }
            block = holder[key];
          }
          if (block === undefined) continue;
          const written = asStr(asObj(block).endpoint);
          out.push({
            componentId: id, section, written, protocol: f.protocol, transport: f.transport ?? 'TCP', path: f.path?.(cfg), external: f.external, known: true,
            field: [section, id, ...f.block, 'endpoint'].join('.'),
            ...parseEndpoint(written, f.defaultPort, unsetHost),
          });
        }
        if (facts.length === 0 && section === 'receivers' && !SCRAPER_RECEIVERS.has(type) && typeof cfg.endpoint === 'string') {
          out.push({
            componentId: id, section, written: cfg.endpoint, protocol: `other:${type}`, transport: 'TCP', field: `${section}.${id}.endpoint`, external: true, known: false,
            ...parseEndpoint(cfg.endpoint),
          });
        }
      }
    }
    const telemetry = this.telemetryListener();
    return telemetry ? [...out, telemetry] : out;
  }

  /**
   * The collector's own metrics endpoint, unless turned off: a `pull` reader's prometheus
   * exporter; readers that only push (`periodic`) bind nothing; with no readers, the
   * deprecated `address` or the default localhost:8888
   * (open-telemetry/opentelemetry-collector service/telemetry/otelconftelemetry @ v0.142.0).
   */
  private telemetryListener(): CollectorListener | undefined {
    const metrics = asObj(asObj(asObj(this.raw.service).telemetry).metrics);
    if (metrics.level === 'none') return undefined;
    const base = { componentId: 'telemetry', section: 'service' as const, protocol: ListenerProtocol.HTTP, transport: 'TCP' as const, path: PROMETHEUS_EXPORTER_PATH, external: false, known: true };
    const readers = asArr(metrics.readers).map(asObj);
    const pull = readers.map((r) => asObj(asObj(asObj(r.pull).exporter).prometheus)).find((p) => Object.keys(p).length > 0);
    if (pull) {
      const host = asStr(pull.host) ?? DEFAULT_BIND_HOST;
      const port = typeof pull.port === 'number' ? pull.port : undefined;
      return { ...base, field: 'service.telemetry.metrics.readers[].pull.exporter.prometheus', written: `${host}:${port ?? ''}`, host, port };
    }
    if (readers.length > 0) return undefined;
    const written = asStr(metrics.address);
    return { ...base, field: 'service.telemetry.metrics.address', written, ...parseEndpoint(written ?? TELEMETRY_DEFAULT_ENDPOINT) };
  }
}

/** The Prometheus series a spanmetrics connector produces through a prometheus exporter, and the pipeline that carries them. */
export interface ExportedSpanmetrics {
  readonly connectorId: string;
  readonly exporterId: string;
  readonly series: SpanmetricsSeries;
  /** the exporter's port, if known */
  readonly port?: number;
}

/** The ports an OTLP receiver listens on unless its endpoints say otherwise (grpc, http), from the facts above. */
export const OTLP_DEFAULT_PORTS: readonly number[] = LISTENER_FACTS.filter((f) => f.type === 'otlp' && f.section === 'receivers').map((f) => f.defaultPort!);

/** A collector: its configuration, the ConfigMap holding it, and the pods that run it. */
export class Collector {
  public readonly config: PlainCollectorConfig;
  public readonly ref: ObjectRef;
  /** the pods that mount the ConfigMap, with the containers that mount it */
  public readonly pods: readonly { readonly pod: PodTemplate; readonly containers: readonly Container[] }[];

  /** whether the OpenTelemetry operator runs it (an OpenTelemetryCollector resource): it makes the pods and Services */
  public readonly operated: boolean;

  constructor(public readonly found: FoundCollectorConfig, model: DeliveryModel, defaultBindHost?: string) {
    this.config = new PlainCollectorConfig(found.config, defaultBindHost);
    this.ref = model.refOf(found.configMap);
    this.operated = found.configMap.object.kind === OPERATOR_COLLECTOR_KIND;
    const namespace = model.namespaceOf(found.configMap);
    const name = found.configMap.object.metadata?.name;
    this.pods = this.operated ? [] : model.podsIn(namespace).flatMap((pod) => {
      const volumes = asArr(pod.spec.volumes).map(asObj)
        .filter((v) => asStr(asObj(v.configMap).name) === name
          || asArr(asObj(v.projected).sources).some((s) => asStr(asObj(asObj(s).configMap).name) === name))
        .map((v) => asStr(v.name));
      if (volumes.length === 0) return [];
      const containers = pod.containers.filter((c) => asArr(c.raw.volumeMounts).some((vm) => volumes.includes(asStr(asObj(vm).name))));
      return containers.length > 0 ? [{ pod, containers }] : [];
    });
  }

  /**
   * A key for a root cause in this collector's configuration (`receivers`, `port:4318`,
   * `spanmetrics-export`), which the findings it causes name (lib/rules/engine.ts foldConsequences).
   */
  public causeKey(what: string): string {
    return `collector:${this.ref.namespace ?? ''}/${this.ref.name ?? ''}#${this.found.key}:${what}`;
  }

  /** The spanmetrics series that reach a prometheus exporter: connector fed by a traces pipeline, received by a metrics pipeline exporting to prometheus. */
  public exportedSpanmetrics(): ExportedSpanmetrics[] {
    const c = this.config;
    const out: ExportedSpanmetrics[] = [];
    const listeners = c.listeners();
    for (const connectorId of c.ids('connectors').filter((id) => componentType(id) === 'spanmetrics')) {
      const fed = c.pipelines.some((p) => p.signal === Signal.TRACES && p.exporters.includes(connectorId));
      if (!fed) continue;
      for (const p of c.pipelines.filter((x) => x.signal === Signal.METRICS && x.receivers.includes(connectorId))) {
        for (const exporterId of p.exporters.filter((e) => componentType(e) === 'prometheus' && c.ids('exporters').includes(e))) {
          out.push({
            connectorId,
            exporterId,
            series: spanmetricsSeries(c.configOf('connectors', connectorId), c.configOf('exporters', exporterId)),
            port: listeners.find((l) => l.componentId === exporterId && l.section === 'exporters')?.port,
          });
        }
      }
    }
    return out;
  }
}

/** The kind the OpenTelemetry operator reconciles into a collector Deployment/DaemonSet/sidecar and Services. */
export const OPERATOR_COLLECTOR_KIND = 'OpenTelemetryCollector';

/**
 * The Services the operator creates for an OpenTelemetryCollector named `name`: `<name>-collector`
 * with a port per listening receiver, and its `-headless` twin (open-telemetry/opentelemetry-operator
 * internal/naming/main.go `Service`, `HeadlessService` @ v0.142.0).
 */
export function operatorServiceNames(name: string): string[] {
  const service = `${name}-collector`;
  return [service, `${service}-headless`];
}

/**
 * The host an unset receiver or extension endpoint gets from the operator's defaulting
 * (open-telemetry/opentelemetry-operator internal/components/single_endpoint.go `DefaultRecAddress`
 * and apis/v1beta1/config.go `ApplyDefaults` @ v0.142.0).
 */
export const OPERATOR_DEFAULT_BIND_HOST = '0.0.0.0';

/** The collector configurations of OpenTelemetryCollector resources (`spec.config`: an object in v1beta1, a YAML string in v1alpha1). */
function operatorCollectorConfigs(model: DeliveryModel): FoundCollectorConfig[] {
  return model.ofKind(OPERATOR_COLLECTOR_KIND).flatMap((m) => {
    const raw = asObj(m.object.spec).config;
    let config: unknown = raw;
    if (typeof raw === 'string') {
      try { config = parseYaml(raw); } catch { return []; }
    }
    return typeof config === 'object' && config !== null && !Array.isArray(config) ? [{ configMap: m, key: 'spec.config', config: config as Obj }] : [];
  });
}

const COLLECTORS = new WeakMap<DeliveryModel, Collector[]>();

/** Every collector configuration in the manifests (a ConfigMap under any key, an OpenTelemetryCollector's spec.config), read once per model. */
export function collectorsOf(model: DeliveryModel): Collector[] {
  let out = COLLECTORS.get(model);
  if (!out) {
    out = [
      ...findCollectorConfigs(model.manifests).map((f) => new Collector(f, model)),
      ...operatorCollectorConfigs(model).map((f) => new Collector(f, model, OPERATOR_DEFAULT_BIND_HOST)),
    ];
    COLLECTORS.set(model, out);
  }
  return out;
}

const OPERATOR_SERVICES = new WeakMap<DeliveryModel, Map<string, Collector>>();

/** The Services operator-managed collectors get, by `namespace/name`. */
export function operatorServices(model: DeliveryModel): ReadonlyMap<string, Collector> {
  let out = OPERATOR_SERVICES.get(model);
  if (!out) {
    out = new Map();
    for (const c of collectorsOf(model).filter((x) => x.operated)) {
      for (const name of operatorServiceNames(c.found.configMap.object.metadata?.name ?? '')) out.set(`${c.ref.namespace}/${name}`, c);
    }
    OPERATOR_SERVICES.set(model, out);
  }
  return out;
}
