import { Duration } from 'cdk8s';
import { OtelMetricType, prometheusMetricName, sanitizeLabelName } from './prometheus-naming';
import { parseDurationSeconds } from '../util';

/**
 * A typed model of an OpenTelemetry Collector (v0.142) configuration.
 *
 * Pipelines hold the component objects themselves, so a pipeline can only name a
 * component that is configured, and the rendered `receivers:`/`exporters:`/... sections
 * are exactly the components some pipeline (or `service.extensions`) uses.
 */

/** A telemetry signal a pipeline carries. */
export enum Signal {
  TRACES = 'traces',
  METRICS = 'metrics',
  LOGS = 'logs',
}

/** The protocol spoken on a port a component listens on. */
export enum ListenerProtocol {
  OTLP_GRPC = 'otlp-grpc',
  OTLP_HTTP = 'otlp-http',
  /** a plain HTTP endpoint, such as `/metrics` or a health check */
  HTTP = 'http',
}

/** A port a component binds inside the collector pod. */
export interface Listener {
  /** the container port name, at most 15 characters (IANA_SVC_NAME) */
  readonly name: string;
  /** the address the component binds */
  readonly host: string;
  /** the port number */
  readonly port: number;
  /** what is spoken on the port */
  readonly protocol: ListenerProtocol;
  /** whether other pods send to this port through the collector's Service */
  readonly servedToOtherPods: boolean;
}

/** A `host:port` a component binds. */
export interface BindAddress {
  /**
   * The address to bind.
   * @default '0.0.0.0' - every interface; the collector's default `localhost` is unreachable from other pods
   */
  readonly host?: string;
  /** the port */
  readonly port: number;
}

const COMPONENT_TYPE = /^[a-zA-Z][0-9a-zA-Z_]{0,62}$/;
const COMPONENT_NAME = /^[^\s/]+$/;

function renderDuration(d: Duration): string {
  const ms = d.toMilliseconds();
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function endpoint(bind: BindAddress): string {
  return `${bind.host ?? '0.0.0.0'}:${bind.port}`;
}

function assertPort(component: string, field: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${component}: ${field} must be an integer port between 1 and 65535, got ${port}`);
  }
}

/** What every configured component has in common. */
export abstract class CollectorComponent {
  /** the component id, `type[/name]` */
  public readonly id: string;

  protected constructor(public readonly type: string, name?: string) {
    if (!COMPONENT_TYPE.test(type)) {
      throw new Error(`invalid component type '${type}': a type matches ${COMPONENT_TYPE.source}`);
    }
    if (name !== undefined && !COMPONENT_NAME.test(name)) {
      throw new Error(`invalid component name '${name}' for type '${type}': use a non-empty name without '/' or spaces`);
    }
    this.id = name ? `${type}/${name}` : type;
  }

  /** the component's configuration block */
  public abstract toConfig(): Record<string, unknown>;

  /** the ports this component binds */
  public listeners(): Listener[] {
    return [];
  }
}

/** A component that takes data in at the start of a pipeline. */
export abstract class Receiver extends CollectorComponent {
  public readonly section = 'receivers';
}

/** A component that transforms data in the middle of a pipeline. */
export abstract class Processor extends CollectorComponent {
  public readonly section = 'processors';
}

/** A component that sends data out at the end of a pipeline. */
export abstract class Exporter extends CollectorComponent {
  public readonly section = 'exporters';
}

/** A component that is an exporter of one pipeline and a receiver of another. */
export abstract class Connector extends CollectorComponent {
  public readonly section = 'connectors';
  /** the signal pairs (exporter side -> receiver side) this connector supports */
  public abstract readonly supportedSignals: ReadonlyArray<readonly [Signal, Signal]>;
}

/** A component that runs beside the pipelines (health checks, auth). */
export abstract class Extension extends CollectorComponent {
  public readonly section = 'extensions';
}

/** Properties of an {@link OtlpReceiver}. */
export interface OtlpReceiverProps {
  /** where OTLP/gRPC is served; `undefined` disables the protocol */
  readonly grpc?: BindAddress;
  /** where OTLP/HTTP is served; `undefined` disables the protocol */
  readonly http?: BindAddress;
  /** the component name after `otlp/` @default - none */
  readonly name?: string;
}

/** The `otlp` receiver. */
export class OtlpReceiver extends Receiver {
  public readonly grpc?: BindAddress;
  public readonly http?: BindAddress;

  constructor(props: OtlpReceiverProps) {
    super('otlp', props.name);
    if (!props.grpc && !props.http) {
      throw new Error(`receiver ${this.id}: enable at least one protocol (grpc or http)`);
    }
    if (props.grpc) assertPort(`receiver ${this.id}`, 'grpc.port', props.grpc.port);
    if (props.http) assertPort(`receiver ${this.id}`, 'http.port', props.http.port);
    this.grpc = props.grpc;
    this.http = props.http;
  }

  public toConfig(): Record<string, unknown> {
    const protocols: Record<string, unknown> = {};
    if (this.grpc) protocols.grpc = { endpoint: endpoint(this.grpc) };
    if (this.http) protocols.http = { endpoint: endpoint(this.http) };
    return { protocols };
  }

  public listeners(): Listener[] {
    const out: Listener[] = [];
    if (this.grpc) {
      out.push({ name: 'otlp-grpc', host: this.grpc.host ?? '0.0.0.0', port: this.grpc.port, protocol: ListenerProtocol.OTLP_GRPC, servedToOtherPods: true });
    }
    if (this.http) {
      out.push({ name: 'otlp-http', host: this.http.host ?? '0.0.0.0', port: this.http.port, protocol: ListenerProtocol.OTLP_HTTP, servedToOtherPods: true });
    }
    return out;
  }
}

/** Properties of a {@link MemoryLimiterProcessor}. */
export interface MemoryLimiterProcessorProps {
  /** how often memory is checked @default Duration.seconds(1) */
  readonly checkInterval?: Duration;
  /** the hard limit as a percentage of the container's memory @default 80 */
  readonly limitPercentage?: number;
  /** the spike allowance as a percentage of the container's memory @default 25 */
  readonly spikeLimitPercentage?: number;
}

/** The `memory_limiter` processor: refuses data before the collector is OOM-killed. */
export class MemoryLimiterProcessor extends Processor {
  private readonly props: MemoryLimiterProcessorProps;

  constructor(props: MemoryLimiterProcessorProps = {}) {
    super('memory_limiter');
    this.props = props;
  }

  public toConfig(): Record<string, unknown> {
    return {
      check_interval: renderDuration(this.props.checkInterval ?? Duration.seconds(1)),
      limit_percentage: this.props.limitPercentage ?? 80,
      spike_limit_percentage: this.props.spikeLimitPercentage ?? 25,
    };
  }
}

/**
 * How long the `batch` processor holds data at most before sending it on
 * (open-telemetry/opentelemetry-collector processor/batchprocessor/factory.go @ v0.142.0: defaultTimeout).
 */
export const BATCH_PROCESSOR_DEFAULT_TIMEOUT = Duration.millis(200);

/** The `batch` processor: batches data before export. */
export class BatchProcessor extends Processor {
  /** the longest data waits in the batch */
  public readonly timeout = BATCH_PROCESSOR_DEFAULT_TIMEOUT;

  constructor() {
    super('batch');
  }

  public toConfig(): Record<string, unknown> {
    return {};
  }
}

/** Properties of a {@link TailSamplingProcessor}. */
export interface TailSamplingProcessorProps {
  /** keep every trace slower than this (a function: resolved when the config is rendered) */
  readonly slowerThan: Duration | (() => Duration);
  /** the share of the other traces kept, in [0, 1] @default 0.1 */
  readonly keepShare?: number;
  /** how long after a trace's first span it is decided @default Duration.seconds(10) */
  readonly decisionWait?: Duration;
}

/**
 * The `tail_sampling` processor (opentelemetry-collector-contrib processor/tailsamplingprocessor,
 * its README's `status_code`, `latency` and `probabilistic` policies; a trace is kept when any
 * policy samples it): every trace with an error span, every trace slower than `slowerThan`, and a
 * share of the rest. It drops spans, so it must never be ahead of spanmetrics (the gates would
 * count only the kept traces): a pipeline of its own, to the traces backend only.
 */
export class TailSamplingProcessor extends Processor {
  public readonly keepShare: number;
  public readonly decisionWait: Duration;
  private readonly slowerThan: Duration | (() => Duration);

  constructor(props: TailSamplingProcessorProps) {
    super('tail_sampling');
    this.keepShare = props.keepShare ?? 0.1;
    if (!(this.keepShare >= 0 && this.keepShare <= 1)) throw new Error(`tail_sampling: keepShare must be a share in [0, 1], got ${this.keepShare} (for 10% write 0.1)`);
    this.decisionWait = props.decisionWait ?? Duration.seconds(10);
    this.slowerThan = props.slowerThan;
  }

  /** The latency above which every trace is kept. */
  public get latencyThreshold(): Duration {
    return typeof this.slowerThan === 'function' ? this.slowerThan() : this.slowerThan;
  }

  public toConfig(): Record<string, unknown> {
    return {
      decision_wait: renderDuration(this.decisionWait),
      policies: [
        { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
        { name: 'slower-than-the-gates', type: 'latency', latency: { threshold_ms: this.latencyThreshold.toMilliseconds() } },
        { name: 'share-of-the-rest', type: 'probabilistic', probabilistic: { sampling_percentage: Number((this.keepShare * 100).toPrecision(6)) } },
      ],
    };
  }
}

/** Processors that drop spans: ahead of spanmetrics they would bias every gate. */
export const SAMPLING_PROCESSOR_TYPES = ['tail_sampling', 'probabilistic_sampler'] as const;

/** The histogram unit of the spanmetrics duration metric. */
export enum HistogramUnit {
  MILLISECONDS = 'ms',
  SECONDS = 's',
}

/** Converts a duration to a number in the given histogram unit. */
export function durationInUnit(d: Duration, unit: HistogramUnit): number {
  const ms = d.toMilliseconds();
  return unit === HistogramUnit.MILLISECONDS ? ms : ms / 1000;
}

/** One spanmetrics dimension: a span or resource attribute turned into a label. */
export interface SpanmetricsDimension {
  /** the attribute key, e.g. `k8s.pod.name` */
  readonly name: string;
  /** the value used when neither the span nor its resource has the attribute @default - the label is omitted */
  readonly default?: string;
}

/**
 * How long a collector pod is away when it is replaced, and spans sent to it meanwhile are lost: a
 * DaemonSet's rolling update removes the old pod before it starts the new one on the node
 * (maxUnavailable 1, maxSurge 0 by default: kubernetes pkg/apis/apps/v1/defaults.go
 * SetDefaults_DaemonSet), so the gap is the old pod's termination and the new one's start. An
 * allowance, not a measured fact: the traffic gate's failure allowance and the rehearsal's
 * collector-restart scenario both take it from here.
 */
export const COLLECTOR_RESTART_GAP = Duration.seconds(10);

/**
 * How often the spanmetrics connector flushes when `metrics_flush_interval` is not set
 * (open-telemetry/opentelemetry-collector-contrib connector/spanmetricsconnector/factory.go @ v0.142.0).
 */
export const SPANMETRICS_DEFAULT_FLUSH_INTERVAL = Duration.seconds(60);

/**
 * The prefix of the spanmetrics connector's metric names when the config names none
 * (open-telemetry/opentelemetry-collector-contrib connector/spanmetricsconnector/config.go, namespace @ v0.142.0).
 */
export const SPANMETRICS_DEFAULT_NAMESPACE = 'traces.span.metrics';

/** Properties of a {@link SpanmetricsConnector}. */
export interface SpanmetricsConnectorProps {
  /** the metric name prefix @default 'traces.span.metrics' */
  readonly namespace?: string;
  /** the unit of the duration histogram @default HistogramUnit.MILLISECONDS */
  readonly histogramUnit?: HistogramUnit;
  /** explicit histogram buckets @default - the connector's defaults (2ms .. 15s) */
  readonly histogramBuckets?: Duration[];
  /** extra dimensions @default - none */
  readonly dimensions?: SpanmetricsDimension[];
  /** how often metrics are flushed to the metrics pipeline @default Duration.seconds(60) */
  readonly metricsFlushInterval?: Duration;
}

/** The `spanmetrics` connector: turns spans into call counters and duration histograms. */
export class SpanmetricsConnector extends Connector {
  public readonly supportedSignals = [[Signal.TRACES, Signal.METRICS]] as const;
  public readonly namespace: string;
  public readonly histogramUnit: HistogramUnit;
  public readonly dimensions: SpanmetricsDimension[];
  public readonly metricsFlushInterval: Duration;

  constructor(props: SpanmetricsConnectorProps = {}) {
    super('spanmetrics');
    this.namespace = props.namespace ?? SPANMETRICS_DEFAULT_NAMESPACE;
    this.histogramUnit = props.histogramUnit ?? HistogramUnit.MILLISECONDS;
    this.buckets = props.histogramBuckets && [...props.histogramBuckets];
    this.dimensions = props.dimensions ?? [];
    this.metricsFlushInterval = props.metricsFlushInterval ?? SPANMETRICS_DEFAULT_FLUSH_INTERVAL;
    const seen = new Set<string>();
    for (const d of this.dimensions) {
      if (!d.name || /\s/.test(d.name)) {
        throw new Error(`spanmetrics: dimension name '${d.name}' is not an attribute key; use a non-empty key without spaces such as 'k8s.pod.name'`);
      }
      const label = sanitizeLabelName(d.name);
      if (seen.has(label)) {
        throw new Error(`spanmetrics: two dimensions become the Prometheus label '${label}'; give them keys that differ in letters or digits`);
      }
      seen.add(label);
    }
    const flushMs = this.metricsFlushInterval.toMilliseconds({ integral: false });
    if (!(flushMs > 0) || !Number.isInteger(flushMs)) {
      throw new Error(`spanmetrics: metricsFlushInterval must be a positive whole number of milliseconds, got ${flushMs}ms`);
    }
  }

  /** the explicit bucket bounds, when the config lists them (else the connector's defaults apply) */
  public get histogramBuckets(): readonly Duration[] | undefined {
    return this.buckets;
  }

  /**
   * Makes `bound` a bucket bound: the list becomes the union of the bounds in force (the given
   * ones, or the connector's defaults) and `bound`, sorted. Nothing changes when it is one already.
   */
  public addBucketBound(bound: Duration): void {
    const ms = (d: Duration) => d.toMilliseconds({ integral: false });
    const current = this.buckets ?? SPANMETRICS_DEFAULT_BUCKETS;
    if (current.some((b) => Math.abs(ms(b) - ms(bound)) < 1e-6)) return;
    this.buckets = [...current, bound].sort((a, b) => ms(a) - ms(b));
  }

  private buckets?: Duration[];

  public toConfig(): Record<string, unknown> {
    const histogram: Record<string, unknown> = { unit: this.histogramUnit };
    if (this.histogramBuckets) {
      histogram.explicit = { buckets: this.histogramBuckets.map(renderDuration) };
    }
    return {
      namespace: this.namespace,
      histogram,
      dimensions: this.dimensions.map((d) => (d.default === undefined ? { name: d.name } : { name: d.name, default: d.default })),
      metrics_flush_interval: renderDuration(this.metricsFlushInterval),
    };
  }
}

/** TLS files, as paths inside the collector's container. */
export interface TlsFiles {
  /** the CA that signs the server's certificate @default - the system's roots */
  readonly caFile?: string;
  /** the client certificate, for mutual TLS; give keyFile with it @default - none */
  readonly certFile?: string;
  /** the client certificate's key @default - none */
  readonly keyFile?: string;
  /** the name the server's certificate must carry @default - the endpoint's host */
  readonly serverName?: string;
}

/** The keys of a Secret that hold TLS files (e.g. a cert-manager Secret: `ca.crt`, `tls.crt`, `tls.key`). */
export interface TlsSecretKeys {
  /** the key of the CA certificate @default - none: the system's roots */
  readonly ca?: string;
  /** the key of the client certificate, for mutual TLS @default - none */
  readonly cert?: string;
  /** the key of its private key @default - none */
  readonly key?: string;
  /** the name the server's certificate must carry @default - the endpoint's host */
  readonly serverName?: string;
}

/** A Secret a TLS configuration reads its files from, and where the collector mounts it. */
export interface TlsSecretMount {
  readonly secretName: string;
  readonly mountPath: string;
}

/** Where the collector mounts the Secrets of its exporters' TLS files. */
export const TLS_SECRETS_DIR = '/etc/otelcol/tls';

/**
 * How an exporter secures its connection: the `tls` block of an OTLP/gRPC client
 * (open-telemetry/opentelemetry-collector config/configtls/configtls.go @ v0.142.0, ClientConfig):
 * with `insecure: false` (the collector's default) it speaks TLS and verifies the server against
 * the system's roots or `ca_file`, sending a client certificate when `cert_file` and `key_file`
 * are given; `insecure: true` without a CA turns TLS off.
 */
export class ExporterTls {
  /**
   * No TLS: spans travel in plaintext. Only inside a network you trust, e.g. to an in-cluster
   * Jaeger that serves OTLP without TLS (the reference environment's).
   */
  public static insecure(): ExporterTls {
    return new ExporterTls({ insecure: true });
  }

  /** TLS, verifying the server; the files are paths in the collector's container (mounted some other way). */
  public static fromFiles(files: TlsFiles = {}): ExporterTls {
    for (const [prop, path] of [['caFile', files.caFile], ['certFile', files.certFile], ['keyFile', files.keyFile]] as const) {
      if (path !== undefined && !/^\/\S+$/.test(path)) throw new Error(`ExporterTls: ${prop} '${path}' must be an absolute path in the collector's container, e.g. '${TLS_SECRETS_DIR}/backend/ca.crt'`);
    }
    if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
      throw new Error(`ExporterTls: certFile and keyFile go together (got ${files.certFile === undefined ? 'keyFile' : 'certFile'} alone): a client certificate needs its key; give both for mutual TLS, or neither`);
    }
    return new ExporterTls({
      insecure: false,
      ...(files.caFile !== undefined ? { ca_file: files.caFile } : {}),
      ...(files.certFile !== undefined ? { cert_file: files.certFile, key_file: files.keyFile } : {}),
      ...(files.serverName !== undefined ? { server_name_override: files.serverName } : {}),
    });
  }

  /**
   * TLS, verifying the server, with the files from a Secret of the collector's namespace, which the
   * collector mounts read-only under {@link TLS_SECRETS_DIR}/<secret>.
   */
  public static fromSecret(secretName: string, keys: TlsSecretKeys = {}): ExporterTls {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(secretName) || secretName.length > 253) {
      throw new Error(`ExporterTls: secret name '${secretName}' is not a valid Secret name; use lowercase letters, digits, '-' and '.', e.g. 'jaeger-tls'`);
    }
    for (const [prop, key] of Object.entries({ ca: keys.ca, cert: keys.cert, key: keys.key })) {
      if (key !== undefined && !/^[-._a-zA-Z0-9]+$/.test(key)) throw new Error(`ExporterTls: ${prop} key '${key}' is not a Secret key; use letters, digits, '-', '_' and '.', e.g. 'ca.crt'`);
    }
    const mountPath = `${TLS_SECRETS_DIR}/${secretName}`;
    const file = (key?: string) => (key === undefined ? undefined : `${mountPath}/${key}`);
    const tls = ExporterTls.fromFiles({ caFile: file(keys.ca), certFile: file(keys.cert), keyFile: file(keys.key), serverName: keys.serverName });
    return new ExporterTls(tls.config, { secretName, mountPath });
  }

  private constructor(
    /** the `tls` block */
    private readonly config: Readonly<Record<string, unknown>>,
    /** the Secret the collector must mount, when the files come from one */
    public readonly secret?: TlsSecretMount,
  ) {}

  /** Whether spans travel without TLS. */
  public get isInsecure(): boolean {
    return this.config.insecure === true;
  }

  /** The `tls` block of the exporter's configuration. */
  public toConfig(): Record<string, unknown> {
    return { ...this.config };
  }
}

/** Properties of an {@link OtlpExporter}. */
export interface OtlpExporterProps {
  /** the `host:port` of the OTLP/gRPC backend */
  readonly endpoint: string;
  /** how the connection is secured @default ExporterTls.fromFiles() - TLS, verified against the system's roots (the collector's own default) */
  readonly tls?: ExporterTls;
  /** the component name after `otlp/` @default - none */
  readonly name?: string;
}

/** The `otlp` exporter (OTLP/gRPC). */
export class OtlpExporter extends Exporter {
  public readonly endpoint: string;
  /** how the connection is secured */
  public readonly tls: ExporterTls;

  constructor(props: OtlpExporterProps) {
    super('otlp', props.name);
    if (!/^[^\s:/]+:\d+$/.test(props.endpoint)) {
      throw new Error(`exporter ${this.id}: endpoint '${props.endpoint}' must be host:port, e.g. 'jaeger-collector.jaeger.svc.cluster.local:4317'`);
    }
    this.endpoint = props.endpoint;
    this.tls = props.tls ?? ExporterTls.fromFiles();
  }

  public toConfig(): Record<string, unknown> {
    return { endpoint: this.endpoint, tls: this.tls.toConfig() };
  }
}

/** Properties of a {@link PrometheusExporter}. */
export interface PrometheusExporterProps {
  /** where `/metrics` is served */
  readonly bind: BindAddress;
  /** a prefix for every metric name @default - none */
  readonly namespace?: string;
}

/** The path the prometheus exporter serves metrics on (fixed by the exporter). */
export const PROMETHEUS_EXPORTER_PATH = '/metrics';

/** The `prometheus` exporter: serves metrics for Prometheus to scrape (contrib distribution only). */
export class PrometheusExporter extends Exporter {
  public readonly bind: BindAddress;
  public readonly namespace?: string;
  /** the path the exporter serves */
  public readonly path = PROMETHEUS_EXPORTER_PATH;

  constructor(props: PrometheusExporterProps) {
    super('prometheus');
    assertPort(`exporter ${this.id}`, 'port', props.bind.port);
    this.bind = props.bind;
    this.namespace = props.namespace;
  }

  public toConfig(): Record<string, unknown> {
    return this.namespace ? { endpoint: endpoint(this.bind), namespace: this.namespace } : { endpoint: endpoint(this.bind) };
  }

  public listeners(): Listener[] {
    return [{ name: 'prometheus', host: this.bind.host ?? '0.0.0.0', port: this.bind.port, protocol: ListenerProtocol.HTTP, servedToOtherPods: false }];
  }
}

/** How much the debug exporter prints. */
export enum DebugVerbosity {
  BASIC = 'basic',
  NORMAL = 'normal',
  DETAILED = 'detailed',
}

/** The `debug` exporter: prints telemetry to the collector's log. */
export class DebugExporter extends Exporter {
  constructor(private readonly verbosity: DebugVerbosity = DebugVerbosity.BASIC) {
    super('debug');
  }

  public toConfig(): Record<string, unknown> {
    return { verbosity: this.verbosity };
  }
}

/** The path the health_check extension answers on unless its `path` is set. */
export const HEALTH_CHECK_DEFAULT_PATH = '/';

/** The `health_check` extension: answers `GET <path>` with 200 once the collector is ready. */
export class HealthCheckExtension extends Extension {
  public readonly bind: BindAddress;
  public readonly path = HEALTH_CHECK_DEFAULT_PATH;

  constructor(bind: BindAddress) {
    super('health_check');
    assertPort(`extension ${this.id}`, 'port', bind.port);
    this.bind = bind;
  }

  public toConfig(): Record<string, unknown> {
    return { endpoint: endpoint(this.bind) };
  }

  public listeners(): Listener[] {
    return [{ name: 'health', host: this.bind.host ?? '0.0.0.0', port: this.bind.port, protocol: ListenerProtocol.HTTP, servedToOtherPods: false }];
  }
}

/** One pipeline of `service.pipelines`. */
export interface PipelineDefinition {
  /** what the pipeline carries */
  readonly signal: Signal;
  /** the pipeline name after `signal/` @default - none */
  readonly name?: string;
  /** where data enters */
  readonly receivers: ReadonlyArray<Receiver | Connector>;
  /** what transforms it, in order @default - none */
  readonly processors?: ReadonlyArray<Processor>;
  /** where data leaves */
  readonly exporters: ReadonlyArray<Exporter | Connector>;
}

type AnyComponent = Receiver | Processor | Exporter | Connector | Extension;

/** A collector configuration: pipelines of typed components plus extensions. */
export class CollectorConfig {
  private readonly pipelines: PipelineDefinition[] = [];
  private readonly extensions: Extension[] = [];

  /** Adds a pipeline; returns its id (`signal[/name]`). */
  public addPipeline(pipeline: PipelineDefinition): string {
    const id = pipeline.name ? `${pipeline.signal}/${pipeline.name}` : pipeline.signal;
    if (this.pipelines.some((p) => pipelineId(p) === id)) {
      throw new Error(`pipeline '${id}' is defined twice; give the second one a name (signal/name)`);
    }
    if (pipeline.receivers.length === 0) {
      throw new Error(`pipeline '${id}' has no receiver; the collector refuses to start without one`);
    }
    if (pipeline.exporters.length === 0) {
      throw new Error(`pipeline '${id}' has no exporter; the collector refuses to start without one`);
    }
    this.pipelines.push(pipeline);
    return id;
  }

  /** Configures an extension and lists it in `service.extensions` (an unlisted extension never runs). */
  public addExtension<T extends Extension>(extension: T): T {
    this.extensions.push(extension);
    return extension;
  }

  /** Every configured component, each once, in the order first used. */
  public components(): AnyComponent[] {
    const out: AnyComponent[] = [];
    const byId = new Map<string, AnyComponent>();
    const add = (c: AnyComponent) => {
      const key = `${c.section}:${c.id}`;
      const existing = byId.get(key);
      if (existing && existing !== c) {
        throw new Error(`two different ${c.section} share the id '${c.id}'; give one of them a name (${c.type}/NAME)`);
      }
      if (!existing) {
        byId.set(key, c);
        out.push(c);
      }
    };
    for (const p of this.pipelines) {
      [...p.receivers, ...(p.processors ?? []), ...p.exporters].forEach(add);
    }
    this.extensions.forEach(add);
    return out;
  }

  /** Every port bound by a configured component. */
  public listeners(): Listener[] {
    return this.components().flatMap((c) => c.listeners());
  }

  /** The first configured component of the given class, if any. */
  public find<T extends CollectorComponent>(cls: abstract new (...args: never[]) => T): T | undefined {
    return this.components().find((c): c is AnyComponent & T => c instanceof cls);
  }

  /** Connectors that are not an exporter of one pipeline and a receiver of another with a supported signal pair. */
  public connectorProblems(): string[] {
    const problems: string[] = [];
    for (const c of this.components()) {
      if (!(c instanceof Connector)) continue;
      const asExporter = this.pipelines.filter((p) => p.exporters.includes(c)).map((p) => p.signal);
      const asReceiver = this.pipelines.filter((p) => p.receivers.includes(c)).map((p) => p.signal);
      const ok = c.supportedSignals.some(([from, to]) => asExporter.includes(from) && asReceiver.includes(to));
      if (!ok) {
        const pairs = c.supportedSignals.map(([a, b]) => `${a} -> ${b}`).join(', ');
        problems.push(`connector '${c.id}' is an exporter in [${asExporter.join(', ')}] and a receiver in [${asReceiver.join(', ')}]; `
          + `it must bridge ${pairs}: add it to the exporters of a ${c.supportedSignals[0][0]} pipeline and the receivers of a ${c.supportedSignals[0][1]} pipeline`);
      }
    }
    return problems;
  }

  /** The configuration as the collector reads it. */
  public toJson(): Record<string, unknown> {
    const sections: Record<string, Record<string, unknown>> = {};
    for (const section of ['receivers', 'processors', 'connectors', 'exporters', 'extensions']) {
      const entries = this.components().filter((c) => c.section === section);
      if (entries.length > 0) {
        sections[section] = Object.fromEntries(entries.map((c) => [c.id, c.toConfig()]));
      }
    }
    const pipelines = Object.fromEntries(this.pipelines.map((p) => {
      const body: Record<string, string[]> = { receivers: p.receivers.map((c) => c.id) };
      if (p.processors && p.processors.length > 0) body.processors = p.processors.map((c) => c.id);
      body.exporters = p.exporters.map((c) => c.id);
      return [pipelineId(p), body];
    }));
    const service: Record<string, unknown> = {};
    if (this.extensions.length > 0) service.extensions = this.extensions.map((e) => e.id);
    service.pipelines = pipelines;
    return { ...sections, service };
  }
}

function pipelineId(p: PipelineDefinition): string {
  return p.name ? `${p.signal}/${p.name}` : p.signal;
}

/** The Prometheus series the spanmetrics connector produces through a prometheus exporter. */
export interface SpanmetricsSeries {
  /** the call counter, e.g. `traces_span_metrics_calls_total` */
  readonly calls: string;
  /** the duration histogram's base name, e.g. `traces_span_metrics_duration_milliseconds` */
  readonly duration: string;
  /** `<duration>_bucket` */
  readonly durationBucket: string;
  /** `<duration>_sum` */
  readonly durationSum: string;
  /** `<duration>_count` */
  readonly durationCount: string;
  /** the histogram unit the duration values are in */
  readonly histogramUnit: HistogramUnit;
  /** the labels every series carries (`service_name`, `span_name`, `span_kind`, `status_code`) */
  readonly intrinsicLabels: readonly string[];
  /** dimension attribute key -> Prometheus label name */
  readonly dimensionLabels: Readonly<Record<string, string>>;
}

/**
 * The values spanmetrics gives `span.kind` and `status.code`: the OTLP enum names
 * (open-telemetry/opentelemetry-collector-contrib connector/spanmetricsconnector/connector.go,
 * traceutil.SpanKindStr and StatusCodeStr of pdata, at a stored commit near v0.142.0).
 */
export const SPAN_KIND_SERVER = 'SPAN_KIND_SERVER';

/**
 * The spanmetrics connector's duration buckets when the config names none, in ms
 * (open-telemetry/opentelemetry-collector-contrib connector/spanmetricsconnector/connector.go
 * defaultHistogramBucketsMs @ v0.142.0).
 */
export const SPANMETRICS_DEFAULT_BUCKETS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000].map((ms) => Duration.millis(ms));
export const SPANMETRICS_STATUS = { error: 'STATUS_CODE_ERROR', unset: 'STATUS_CODE_UNSET' } as const;

/** The attributes spanmetrics always attaches, before renaming. */
const SPANMETRICS_INTRINSIC_ATTRIBUTES = ['service.name', 'span.name', 'span.kind', 'status.code'];

/**
 * Names the Prometheus series of a spanmetrics connector exported through a prometheus
 * exporter, from their plain config blocks (as rendered, or as found in a hand-written config).
 */
export function spanmetricsSeries(connectorConfig: Record<string, unknown> | null | undefined, exporterConfig?: Record<string, unknown> | null): SpanmetricsSeries {
  const cfg = connectorConfig ?? {};
  const namespace = typeof cfg.namespace === 'string' ? cfg.namespace : SPANMETRICS_DEFAULT_NAMESPACE;
  const histogram = (cfg.histogram ?? {}) as Record<string, unknown>;
  const unit = histogram.unit === 's' ? HistogramUnit.SECONDS : HistogramUnit.MILLISECONDS;
  const exporterNamespace = typeof exporterConfig?.namespace === 'string' ? exporterConfig.namespace : undefined;
  const dims = Array.isArray(cfg.dimensions) ? cfg.dimensions : [];
  const name = (suffix: string) => (namespace ? `${namespace}.${suffix}` : suffix);
  const duration = prometheusMetricName({ name: name('duration'), unit, type: OtelMetricType.HISTOGRAM, exporterNamespace });
  return {
    calls: prometheusMetricName({ name: name('calls'), type: OtelMetricType.MONOTONIC_SUM, exporterNamespace }),
    duration,
    durationBucket: `${duration}_bucket`,
    durationSum: `${duration}_sum`,
    durationCount: `${duration}_count`,
    histogramUnit: unit,
    intrinsicLabels: SPANMETRICS_INTRINSIC_ATTRIBUTES.map(sanitizeLabelName),
    dimensionLabels: Object.fromEntries(dims
      .filter((d): d is { name: string } => typeof d === 'object' && d !== null && typeof (d as { name?: unknown }).name === 'string')
      .map((d) => [d.name, sanitizeLabelName(d.name)])),
  };
}

/** The flush interval, in seconds, of a plain spanmetrics connector block (its default when unset or unreadable). */
export function spanmetricsFlushSeconds(connectorConfig: Record<string, unknown> | null | undefined): number {
  const text = connectorConfig?.metrics_flush_interval;
  if (typeof text === 'string') {
    try {
      return parseDurationSeconds(text);
    } catch {
      // an unreadable interval is the collector's to refuse; judge with the default
    }
  }
  return SPANMETRICS_DEFAULT_FLUSH_INTERVAL.toSeconds();
}
