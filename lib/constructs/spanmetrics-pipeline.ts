import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import {
  BatchProcessor,
  CollectorConfig,
  DebugExporter,
  DebugVerbosity,
  durationInUnit,
  ExporterTls,
  HealthCheckExtension,
  HistogramUnit,
  Listener,
  MemoryLimiterProcessor,
  OtlpExporter,
  OtlpReceiver,
  PrometheusExporter,
  Signal,
  SpanmetricsConnector,
  SPANMETRICS_DEFAULT_BUCKETS,
  SpanmetricsSeries,
  spanmetricsSeries,
  TailSamplingProcessor,
  TlsSecretMount,
} from '../platform/collector-config';
import { ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { ISpanmetricsPipeline, PodIdentity } from './interfaces';

/** The flush interval this pipeline gives the spanmetrics connector unless told otherwise. */
export const SPANMETRICS_FLUSH_INTERVAL = Duration.seconds(15);

/**
 * The resource attribute keys that carry each {@link PodIdentity}; each becomes a spanmetrics
 * dimension. The defaults are the OpenTelemetry semantic conventions' Kubernetes attributes
 * (open-telemetry/semantic-conventions docs/resource/k8s.md: `k8s.namespace.name`, `k8s.pod.name`,
 * and `k8s.pod.label.<key>` for a pod label), so they mean the same for every service.
 */
export interface PodIdentityAttributes {
  /** @default 'k8s.namespace.name' */
  readonly namespace?: string;
  /** @default 'k8s.pod.name' */
  readonly podName?: string;
  /** @default 'k8s.pod.label.rollouts-pod-template-hash' */
  readonly podTemplateHash?: string;
}

/** The default resource attribute keys of the pod identity (see {@link PodIdentityAttributes}). */
export const DEFAULT_POD_IDENTITY = {
  namespace: 'k8s.namespace.name',
  podName: 'k8s.pod.name',
  podTemplateHash: `k8s.pod.label.${ROLLOUTS_POD_TEMPLATE_HASH_LABEL}`,
} as const;

/** Properties of a {@link SpanmetricsPipeline}. */
export interface SpanmetricsPipelineProps {
  /** the OTLP/gRPC receiver port @default 4317 */
  readonly otlpGrpcPort?: number;
  /** the OTLP/HTTP receiver port (HotROD's exporter speaks OTLP/HTTP) @default 4318 */
  readonly otlpHttpPort?: number;
  /** the port the prometheus exporter serves `/metrics` on @default 8889 */
  readonly prometheusPort?: number;
  /** the health_check extension port @default 13133 */
  readonly healthCheckPort?: number;
  /** the spanmetrics metric name prefix @default 'traces.span.metrics' */
  readonly metricsNamespace?: string;
  /** the unit of the duration histogram @default HistogramUnit.MILLISECONDS */
  readonly histogramUnit?: HistogramUnit;
  /** explicit duration buckets @default - the connector's defaults (2ms .. 15s) */
  readonly histogramBuckets?: Duration[];
  /**
   * How often spanmetrics flushes its counters. A new canary's series reach Prometheus up to two
   * flushes late, so every gate waits for them: 15 s instead of the connector's 60 s default
   * takes 90 s off every verdict, for four times the (small) work of building the metrics.
   * @default Duration.seconds(15)
   */
  readonly metricsFlushInterval?: Duration;
  /** the resource attribute keys that identify a pod; each becomes a dimension @default - DEFAULT_POD_IDENTITY */
  readonly podIdentity?: PodIdentityAttributes;
  /** further dimensions, after the pod identity ones @default - none */
  readonly extraDimensions?: string[];
  /** the OTLP/gRPC trace backend (`host:port`) @default 'jaeger-collector.jaeger.svc.cluster.local:4317' */
  readonly tracesBackend?: string;
  /**
   * How the connection to the trace backend is secured: `ExporterTls.fromSecret('jaeger-tls', { ca: 'ca.crt' })`
   * verifies the backend with a CA from a Secret the collector mounts (add `cert` and `key` for mutual TLS).
   * @default ExporterTls.insecure() - plaintext, as the reference environment's in-cluster Jaeger serves OTLP without TLS
   */
  readonly tracesBackendTls?: ExporterTls;
  /** add a debug exporter to both pipelines at this verbosity @default - no debug exporter (it floods the log in production) */
  readonly debugVerbosity?: DebugVerbosity;
  /** put memory_limiter and batch processors in front of the exporters @default true */
  readonly productionProcessors?: boolean;
  /**
   * Sample the traces sent to the trace backend (not those spanmetrics counts): every error trace,
   * every trace slower than the slowest gate threshold, a share of the rest. A pipeline of its own
   * (`traces/sampled`), so spanmetrics keeps seeing every span.
   * @default - no sampling: every trace is exported
   */
  readonly tailSampling?: TailSamplingOptions;
}

/** Options of the pipeline's tail sampling. */
export interface TailSamplingOptions {
  /** the share of the traces without errors and faster than the slowest gate threshold that are kept @default 0.1 */
  readonly keepShare?: number;
  /** how long after a trace's first span it is decided @default Duration.seconds(10) */
  readonly decisionWait?: Duration;
  /** keep every trace slower than this @default - the slowest latency a gate or SLO made a bucket bound */
  readonly slowerThan?: Duration;
}

/**
 * The collector configuration that turns the services' traces into Prometheus metrics:
 * `traces: [otlp] -> [otlp(jaeger), spanmetrics]`, `metrics: [spanmetrics] -> [prometheus]`.
 *
 * It emits no Kubernetes object; it answers, from its own settings, the ports it binds
 * and the Prometheus names (metrics and labels) its output carries.
 */
export class SpanmetricsPipeline extends Construct implements ISpanmetricsPipeline {
  /** the configuration model */
  public readonly config: CollectorConfig;
  /** the OTLP receiver (gRPC and HTTP) */
  public readonly otlpReceiver: OtlpReceiver;
  /** the spanmetrics connector */
  public readonly spanmetrics: SpanmetricsConnector;
  /** the prometheus exporter */
  public readonly prometheusExporter: PrometheusExporter;
  /** the health_check extension the probes hit */
  public readonly healthCheck: HealthCheckExtension;
  /** the Prometheus series the spanmetrics connector produces */
  public readonly series: SpanmetricsSeries;
  /** the resource attribute key of each pod identity */
  public readonly podIdentity: Readonly<Record<PodIdentity, string>>;
  /** the batch processor in front of the connector, if any */
  public readonly batch?: BatchProcessor;
  /** the exporter that sends the traces to the trace backend */
  public readonly tracesExporter: OtlpExporter;
  /** the tail sampling of the exported traces, if any */
  public readonly tailSampling?: TailSamplingProcessor;
  /** the latencies the gates and SLOs made bucket bounds */
  private readonly requiredBounds: Duration[] = [];

  constructor(scope: Construct, id: string, props: SpanmetricsPipelineProps = {}) {
    super(scope, id);

    this.podIdentity = {
      [PodIdentity.NAMESPACE]: props.podIdentity?.namespace ?? DEFAULT_POD_IDENTITY.namespace,
      [PodIdentity.POD_NAME]: props.podIdentity?.podName ?? DEFAULT_POD_IDENTITY.podName,
      [PodIdentity.POD_TEMPLATE_HASH]: props.podIdentity?.podTemplateHash ?? DEFAULT_POD_IDENTITY.podTemplateHash,
    };
    // SPEC order: namespace, pod name, pod hash.
    const identityKeys = [PodIdentity.NAMESPACE, PodIdentity.POD_NAME, PodIdentity.POD_TEMPLATE_HASH].map((k) => this.podIdentity[k]);
    const dimensions = [...identityKeys, ...(props.extraDimensions ?? [])];
    const duplicate = dimensions.find((d, i) => dimensions.indexOf(d) !== i);
    if (duplicate) {
      throw new Error(`spanmetrics pipeline: dimension '${duplicate}' is listed twice (podIdentity and extraDimensions); remove it from extraDimensions`);
    }

    this.otlpReceiver = new OtlpReceiver({
      grpc: { port: props.otlpGrpcPort ?? 4317 },
      http: { port: props.otlpHttpPort ?? 4318 },
    });
    this.spanmetrics = new SpanmetricsConnector({
      namespace: props.metricsNamespace,
      histogramUnit: props.histogramUnit,
      histogramBuckets: props.histogramBuckets,
      dimensions: dimensions.map((name) => ({ name })),
      metricsFlushInterval: props.metricsFlushInterval ?? SPANMETRICS_FLUSH_INTERVAL,
    });
    this.prometheusExporter = new PrometheusExporter({ bind: { port: props.prometheusPort ?? 8889 } });
    this.healthCheck = new HealthCheckExtension({ port: props.healthCheckPort ?? 13133 });
    this.tracesExporter = new OtlpExporter({
      endpoint: props.tracesBackend ?? 'jaeger-collector.jaeger.svc.cluster.local:4317',
      tls: props.tracesBackendTls ?? ExporterTls.insecure(),
    });

    this.batch = (props.productionProcessors ?? true) ? new BatchProcessor() : undefined;
    const processors = this.batch ? [new MemoryLimiterProcessor(), this.batch] : [];
    const debug = props.debugVerbosity ? [new DebugExporter(props.debugVerbosity)] : [];

    this.config = new CollectorConfig();
    if (props.tailSampling) {
      const ts = props.tailSampling;
      const slowest = () => {
        const ms = this.requiredBounds.map((d) => d.toMilliseconds());
        if (ms.length === 0) throw new Error('spanmetrics pipeline: tailSampling has no slowerThan and no gate made a latency a bucket bound; give tailSampling.slowerThan');
        return Duration.millis(Math.max(...ms));
      };
      this.tailSampling = new TailSamplingProcessor({ slowerThan: ts.slowerThan ?? slowest, keepShare: ts.keepShare, decisionWait: ts.decisionWait });
      // spanmetrics sees every span; only the export to the trace backend is sampled (after the sampler, batch)
      this.config.addPipeline({ signal: Signal.TRACES, receivers: [this.otlpReceiver], processors, exporters: [this.spanmetrics, ...debug] });
      this.config.addPipeline({
        signal: Signal.TRACES,
        name: 'sampled',
        receivers: [this.otlpReceiver],
        processors: [...(this.batch ? [processors[0]] : []), this.tailSampling, ...(this.batch ? [this.batch] : [])],
        exporters: [this.tracesExporter],
      });
    } else {
      this.config.addPipeline({
        signal: Signal.TRACES,
        receivers: [this.otlpReceiver],
        processors,
        exporters: [this.tracesExporter, this.spanmetrics, ...debug],
      });
    }
    this.config.addPipeline({
      signal: Signal.METRICS,
      receivers: [this.spanmetrics],
      processors,
      exporters: [this.prometheusExporter, ...debug],
    });
    this.config.addExtension(this.healthCheck);

    const clash = this.findPortClash();
    if (clash) throw new Error(clash);

    this.series = spanmetricsSeries(this.spanmetrics.toConfig(), this.prometheusExporter.toConfig());
    // Pipelines added to `config` later are checked at synth, as they are rendered then.
    this.node.addValidation({ validate: () => [...this.config.connectorProblems(), ...[this.findPortClash()].filter((p): p is string => p !== undefined)] });
  }

  /** How often the spanmetrics connector flushes. */
  public get flushInterval(): Duration {
    return this.spanmetrics.metricsFlushInterval;
  }

  /**
   * The longest a finished span takes to reach the spanmetrics connector: the app's own export
   * delay (its SDK's batch timeout) plus the batch processor's timeout.
   */
  public exportDelayMs(appExportDelayMs: number): number {
    return appExportDelayMs + (this.batch?.timeout.toMilliseconds() ?? 0);
  }

  /** The OTLP/HTTP port apps export to. */
  public get otlpHttpPort(): number {
    return this.otlpReceiver.http!.port;
  }

  /** The OTLP/gRPC port. */
  public get otlpGrpcPort(): number {
    return this.otlpReceiver.grpc!.port;
  }

  /** The Prometheus label that carries the given pod identity on spanmetrics series. */
  public dimensionLabel(identity: PodIdentity): string {
    return this.series.dimensionLabels[this.podIdentity[identity]];
  }

  /** The finite bounds of the duration histogram's buckets, in its unit. */
  public bucketBounds(): number[] {
    return (this.spanmetrics.histogramBuckets ?? SPANMETRICS_DEFAULT_BUCKETS).map((b) => durationInUnit(b, this.series.histogramUnit));
  }

  /**
   * Makes a latency a bound of the duration histogram, so a gate can count the requests slower
   * than it exactly: one collector serves every service, so its buckets are the union of every
   * gate's thresholds and the bounds in force (`histogramBuckets`, else the connector's defaults).
   */
  public requireBucketBound(bound: Duration): void {
    this.requiredBounds.push(bound);
    this.spanmetrics.addBucketBound(bound);
  }

  /** A duration expressed in the duration histogram's unit (what `histogram_quantile` returns). */
  public inHistogramUnit(d: Duration): number {
    return durationInUnit(d, this.series.histogramUnit);
  }

  /** The Secrets the exporters read TLS files from, each once: the collector mounts them. */
  public tlsSecrets(): TlsSecretMount[] {
    const mounts = new Map<string, TlsSecretMount>();
    for (const c of this.config.components()) {
      if (c instanceof OtlpExporter && c.tls.secret) mounts.set(c.tls.secret.secretName, c.tls.secret);
    }
    return [...mounts.values()];
  }

  /** Every port the collector binds. */
  public listeners(): Listener[] {
    return this.config.listeners();
  }

  /** The collector configuration file, as YAML. */
  public toYaml(): string {
    return stringify(this.config.toJson(), { lineWidth: 0 });
  }

  private findPortClash(): string | undefined {
    const byPort = new Map<number, string>();
    for (const l of this.listeners()) {
      const other = byPort.get(l.port);
      if (other) {
        return `spanmetrics pipeline: ${other} and ${l.name} both bind port ${l.port}; give each its own port`;
      }
      byPort.set(l.port, l.name);
    }
    return undefined;
  }
}
