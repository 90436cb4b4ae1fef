import {
  HEALTH_CHECK_DEFAULT_PATH,
  ListenerProtocol,
  PROMETHEUS_EXPORTER_PATH,
  Signal,
  SpanmetricsConnector,
  spanmetricsSeries,
  SpanmetricsSeries,
} from '../collector-config';
import { findCollectorConfigs, FoundCollectorConfig } from '../manifests';
import { asArr, asObj, asStr, Container, ManifestModel, Obj, PodTemplate } from './model';
import { ObjectRef } from './types';

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

/**
 * Where components of known types listen: the block holding `endpoint` (a present key
 * enables it), the protocol spoken, the port used when the endpoint is not set, the path
 * served, and whether something outside the pod connects (apps, Prometheus, the kubelet's probes).
 */
const LISTENER_FACTS: ReadonlyArray<{
  section: ComponentSection; type: string; block: readonly string[]; protocol: ListenerProtocol; defaultPort?: number; path?: (cfg: Obj) => string; external: boolean;
}> = [
  { section: 'receivers', type: 'otlp', block: ['protocols', 'grpc'], protocol: ListenerProtocol.OTLP_GRPC, defaultPort: 4317, external: true },
  { section: 'receivers', type: 'otlp', block: ['protocols', 'http'], protocol: ListenerProtocol.OTLP_HTTP, defaultPort: 4318, external: true },
  { section: 'exporters', type: 'prometheus', block: [], protocol: ListenerProtocol.HTTP, path: () => PROMETHEUS_EXPORTER_PATH, external: true },
  { section: 'extensions', type: 'health_check', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 13133, path: (cfg) => asStr(cfg.path) ?? HEALTH_CHECK_DEFAULT_PATH, external: true },
  { section: 'extensions', type: 'zpages', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 55679, external: false },
  { section: 'extensions', type: 'pprof', block: [], protocol: ListenerProtocol.HTTP, defaultPort: 1777, external: false },
];

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
  readonly protocol: ListenerProtocol;
  /** the HTTP path served, where it matters */
  readonly path?: string;
  /** whether something outside the pod connects to it */
  readonly external: boolean;
}

/** The type part of a component id (`otlp/jaeger` -> `otlp`). */
export function componentType(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}

/** `host:port` -> parts; `${env:POD_IP}:4317` and `[::]:4317` included. */
export function parseEndpoint(endpoint: string | undefined, defaultPort?: number): { host: string; port?: number } {
  if (endpoint === undefined) return { host: DEFAULT_BIND_HOST, port: defaultPort };
  const m = /^(.*):(\d+)$/.exec(endpoint.trim());
  return m ? { host: m[1], port: Number(m[2]) } : { host: endpoint.trim(), port: defaultPort };
}

/** Whether a bound host is reachable only from inside the pod. */
export function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[?::1\]?)$/i.test(host);
}

/** A collector configuration as plain data. */
export class PlainCollectorConfig {
  public readonly sections: Readonly<Record<ComponentSection, Obj>>;
  public readonly pipelines: readonly PipelineRef[];
  /** `service.extensions` */
  public readonly serviceExtensions: readonly string[];

  constructor(public readonly raw: Obj) {
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

  /** Every port a component the collector builds binds. */
  public listeners(): CollectorListener[] {
    const out: CollectorListener[] = [];
    for (const section of COMPONENT_SECTIONS) {
      for (const id of this.used(section)) {
        const cfg = this.configOf(section, id);
        const facts = LISTENER_FACTS.filter((f) => f.section === section && f.type === componentType(id));
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
            componentId: id, section, written, protocol: f.protocol, path: f.path?.(cfg), external: f.external,
            field: [section, id, ...f.block, 'endpoint'].join('.'),
            ...parseEndpoint(written, f.defaultPort),
          });
        }
        if (facts.length === 0 && section === 'receivers' && typeof cfg.endpoint === 'string') {
          out.push({ componentId: id, section, written: cfg.endpoint, protocol: ListenerProtocol.HTTP, field: `${section}.${id}.endpoint`, external: true, ...parseEndpoint(cfg.endpoint) });
        }
      }
    }
    const telemetry = this.telemetryListener();
    return telemetry ? [...out, telemetry] : out;
  }

  /** The collector's own metrics endpoint (`service.telemetry.metrics`), unless turned off. */
  private telemetryListener(): CollectorListener | undefined {
    const metrics = asObj(asObj(asObj(this.raw.service).telemetry).metrics);
    if (metrics.level === 'none') return undefined;
    const base = { componentId: 'telemetry', section: 'service' as const, protocol: ListenerProtocol.HTTP, path: PROMETHEUS_EXPORTER_PATH, external: false };
    const pull = asArr(metrics.readers).map((r) => asObj(asObj(asObj(asObj(r).pull).exporter).prometheus)).find((p) => Object.keys(p).length > 0);
    if (pull) {
      return { ...base, field: 'service.telemetry.metrics.readers[].pull.exporter.prometheus', host: asStr(pull.host) ?? DEFAULT_BIND_HOST, port: typeof pull.port === 'number' ? pull.port : undefined };
    }
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

/** A collector: its configuration, the ConfigMap holding it, and the pods that run it. */
export class Collector {
  public readonly config: PlainCollectorConfig;
  public readonly ref: ObjectRef;
  /** the pods that mount the ConfigMap, with the containers that mount it */
  public readonly pods: readonly { readonly pod: PodTemplate; readonly containers: readonly Container[] }[];

  constructor(public readonly found: FoundCollectorConfig, model: ManifestModel) {
    this.config = new PlainCollectorConfig(found.config);
    this.ref = model.refOf(found.configMap);
    const namespace = model.namespaceOf(found.configMap);
    const name = found.configMap.object.metadata?.name;
    this.pods = model.pods.flatMap((pod) => {
      if (pod.namespace !== namespace) return [];
      const volumes = asArr(pod.spec.volumes).map(asObj)
        .filter((v) => asStr(asObj(v.configMap).name) === name
          || asArr(asObj(v.projected).sources).some((s) => asStr(asObj(asObj(s).configMap).name) === name))
        .map((v) => asStr(v.name));
      if (volumes.length === 0) return [];
      const containers = pod.containers.filter((c) => asArr(c.raw.volumeMounts).some((vm) => volumes.includes(asStr(asObj(vm).name))));
      return containers.length > 0 ? [{ pod, containers }] : [];
    });
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

const COLLECTORS = new WeakMap<ManifestModel, Collector[]>();

/** Every collector configuration in the manifests (a ConfigMap under any key), read once per model. */
export function collectorsOf(model: ManifestModel): Collector[] {
  let out = COLLECTORS.get(model);
  if (!out) {
    out = findCollectorConfigs(model.manifests).map((f) => new Collector(f, model));
    COLLECTORS.set(model, out);
  }
  return out;
}
