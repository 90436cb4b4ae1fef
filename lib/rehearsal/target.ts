import { ApiObject, Duration } from 'cdk8s';
import { CanaryRollout } from '../constructs/canary-rollout';
import { AnalysisArgument, podsAtWeight, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { BATCH_PROCESSOR_DEFAULT_TIMEOUT, durationInUnit, HistogramUnit, SPANMETRICS_DEFAULT_FLUSH_INTERVAL, SpanmetricsSeries, spanmetricsSeries } from '../platform/collector-config';
import { conditionShape, parseCondition, ResultComparison } from '../analysis/condition';
import { MetricSchedule, PlainMetricTiming, readMetricSchedule } from '../analysis/schedule';
import { findCollectorConfigs, LoadedManifest, loadManifests, Manifest, ManifestReadError } from '../manifests';
import { PodIdentity, SpanmetricsPipeline } from '../constructs/spanmetrics-pipeline';
import { CanaryAnalysis, GateKind } from '../constructs/canary-analysis';
import { OtelCollectorDaemonSet } from '../constructs/otel-collector-daemon-set';
import { servesUrl, ServedEndpoint } from '../platform/image-facts';
import { HOTROD_ENDPOINTS, HOTROD_EXPORT_DELAY_MS, HOTROD_IMAGE, HOTROD_REQUESTS_METRIC } from '../presets/hotrod';
import { PrometheusBackend } from '../platform/metrics-backend';
import { LOOP_OVERHEAD_MS, TrafficGenerator } from '../constructs/traffic-generator';
import { namespaceOf, parseDurationSeconds as parseSeconds } from '../util';

/**
 * What a rehearsal needs to know about a stack, as plain data: the gates exactly as the
 * AnalysisTemplate has them, and every metric and label name the series must carry.
 * It is built either from the constructs ({@link targetFromStack}) or from synthesized
 * (or hand-written) manifests ({@link targetFromManifests}); the rest of the rehearsal
 * only reads this.
 */
export interface RehearsalTarget {
  /** where the target was read from, for messages */
  readonly source: string;
  /** the namespace the rollout runs in */
  readonly namespace: string;
  /** the arguments the analysis step passes, with where Argo Rollouts takes each value from */
  readonly args: readonly StepArgument[];
  /** the pods on each side while the analysis runs */
  readonly pods: { readonly canary: number; readonly stable: number };
  /** the Prometheus that scrapes the pods and answers the gates: scrape interval, discovery, target labels */
  readonly prometheus: PrometheusBackend;
  /** the user requests per second one pod serves while the analysis runs (the traffic generator's rate over the pods) */
  readonly canaryUserRequestsPerSecond: number;
  /** the user endpoints and the share of user requests each gets (from the traffic generator's paths) */
  readonly userMix: readonly { readonly endpoint: ServedEndpoint; readonly share: number }[];
  /** the rollout's name and container, and the container port its metrics are scraped on */
  readonly workload: { readonly name: string; readonly container: string; readonly metricsPort: { readonly name: string; readonly number: number } };
  /** HotROD's request counter, scraped from its pods */
  readonly requests: {
    /** the metric, e.g. `hotrod_requests_total` */
    readonly metric: string;
    /** the label HotROD itself puts the endpoint in (before the scrape may rename it) */
    readonly endpointLabel: string;
    /** the label that marks failed requests, and its value on them */
    readonly errorLabel: string;
    readonly errorValue: string;
    /** the pod labels of the rollout's template (without the pod-template hash) */
    readonly podLabels: Readonly<Record<string, string>>;
    /** the pod label Argo Rollouts sets to the ReplicaSet's hash */
    readonly hashPodLabel: string;
  };
  /** the spanmetrics connector's output as the collector's prometheus exporter serves it */
  readonly spanmetrics: {
    readonly series: SpanmetricsSeries;
    /** the dimension labels, in order, with where each value comes from */
    readonly dimensions: readonly SpanDimension[];
    /** the finite bucket bounds, in the histogram unit */
    readonly bucketBounds: readonly number[];
    /** how often the connector flushes, in seconds */
    readonly flushSeconds: number;
    /** the longest a finished span takes to reach the connector (SDK batch delay + batch processor), in seconds */
    readonly exportDelaySeconds: number;
    /** milliseconds per unit of the duration histogram */
    readonly msPerUnit: number;
  };
  /** the collector pods Prometheus scrapes the spanmetrics from */
  readonly collector: {
    readonly name: string;
    readonly namespace: string;
    readonly podLabels: Readonly<Record<string, string>>;
    /** the prometheus exporter's port */
    readonly scrapePort: number;
    /** its container port name */
    readonly scrapePortName: string;
  };
  /** the gates, in template order */
  readonly gates: readonly RehearsalGate[];
}

/** An argument of the rollout's analysis step: a literal value or where Argo Rollouts reads it. */
export interface StepArgument {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: AnalysisArgument['valueFrom'];
}

/** What a pod tells spanmetrics about itself (its OTEL_RESOURCE_ATTRIBUTES). */
export type PodField = 'namespace' | 'podName' | 'podTemplateHash';

/** One spanmetrics dimension label: from a pod field, or a fixed value (a literal attribute or the dimension's default). */
export interface SpanDimension {
  readonly label: string;
  readonly from?: PodField;
  readonly value?: string;
}

/** One metric of the AnalysisTemplate, as Argo Rollouts reads it. */
export interface RehearsalGate extends MetricSchedule {
  readonly name: string;
  /** what the gate checks (from the construct, or recognised from the query) */
  readonly kind?: GateKind;
  /** the query, with `{{args.*}}` placeholders */
  readonly query: string;
  readonly successCondition?: string;
  readonly failureCondition?: string;
  /** the comparison of `result[0]` with the threshold, read from the condition */
  readonly threshold?: ResultComparison;
}

/** An input the rehearsal cannot use; the message says what to fix. */
export class RehearsalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RehearsalInputError';
  }
}

/** The spanmetrics connector's default duration buckets (SPEC.md), used when the config names none. */
export const SPANMETRICS_DEFAULT_BUCKETS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000].map((ms) => Duration.millis(ms));

/** Argo Rollouts' default `consecutiveErrorLimit`. */

/** The handles of a stack built by `defineApp` that a rehearsal reads. */
export interface RehearsalStack {
  readonly pipeline: SpanmetricsPipeline;
  readonly collector: OtelCollectorDaemonSet;
  readonly rollout: CanaryRollout;
  readonly gates: CanaryAnalysis;
  /** the traffic generator, whose rate and paths the canary serves @default - the gates' required rate, spread evenly over the user URLs */
  readonly generator?: TrafficGenerator;
}

/** The target of a stack built in memory: every name comes from the constructs. */
export function targetFromStack(stack: RehearsalStack): RehearsalTarget {
  const { pipeline, collector, rollout, gates } = stack;
  const step = rollout.analysisSteps().find((s) => s.analysis === gates);
  if (!step) throw new RehearsalInputError(`rollout '${rollout.rollout.name}' has no analysis step running '${gates.templateName}'; add CanaryStep.analysis()`);
  const identity: Record<string, PodField> = {
    [pipeline.podIdentity[PodIdentity.NAMESPACE]]: 'namespace',
    [pipeline.podIdentity[PodIdentity.POD_NAME]]: 'podName',
    [pipeline.podIdentity[PodIdentity.POD_TEMPLATE_HASH]]: 'podTemplateHash',
  };
  const template = gates.template.toJson() as { spec: { metrics: PlainMetric[] } };
  const kinds = new Map(gates.gates.map((g) => [g.name, g.kind]));
  const unit = pipeline.series.histogramUnit;
  const pods = rollout.podsAtWeight(step.weight);
  const generator = stack.generator;
  const perPod = generator ? generator.requestsPerSecond / (pods.canary + pods.stable) : gates.requiredCanaryRequestsPerSecond / pods.canary;
  const urls = generator?.paths ?? rollout.userEndpoints.flatMap((e) => e.urls ?? []);
  return {
    source: `the default app (constructs), ${rollout.prometheus.name}`,
    namespace: rollout.namespace,
    args: step.analysis.args,
    pods,
    prometheus: rollout.prometheus,
    canaryUserRequestsPerSecond: perPod,
    userMix: userMixOf(rollout.userEndpoints, urls),
    workload: { name: rollout.rollout.name, container: rollout.rollout.name, metricsPort: { name: 'frontend', number: HOTROD_IMAGE.metrics.port } },
    requests: { ...requestsMetric(), podLabels: rollout.podLabels, hashPodLabel: ROLLOUTS_POD_TEMPLATE_HASH_LABEL },
    spanmetrics: {
      series: pipeline.series,
      dimensions: pipeline.spanmetrics.dimensions.map((d) => ({
        label: pipeline.series.dimensionLabels[d.name],
        from: identity[d.name],
        value: identity[d.name] ? undefined : d.default,
      })),
      bucketBounds: (pipeline.spanmetrics.histogramBuckets ?? SPANMETRICS_DEFAULT_BUCKETS).map((b) => durationInUnit(b, unit)),
      flushSeconds: pipeline.spanmetrics.metricsFlushInterval.toSeconds(),
      exportDelaySeconds: pipeline.exportDelayMs(rollout.exportDelayMs) / 1000,
      msPerUnit: durationInUnit(Duration.seconds(1), unit) === 1 ? 1000 : 1,
    },
    collector: collectorPods(collector),
    gates: template.spec.metrics.map((m) => gateFromMetric(m, 'AnalysisTemplate', kinds.get(m.name))),
  };
}

/** The collector's namespace and pod labels, as its DaemonSet renders them. */
function collectorPods(collector: OtelCollectorDaemonSet): RehearsalTarget['collector'] {
  const daemonSet = ApiObject.of(collector.daemonSet);
  const json = daemonSet.toJson() as { spec: { template: { metadata?: { labels?: Record<string, string> } } } };
  const port = collector.pipeline.prometheusExporter.bind.port;
  return {
    name: daemonSet.metadata.name!,
    namespace: namespaceOf(daemonSet),
    podLabels: json.spec.template.metadata?.labels ?? {},
    scrapePort: port,
    scrapePortName: collector.pipeline.listeners().find((l) => l.port === port)?.name ?? 'metrics',
  };
}

function requestsMetric() {
  return { metric: HOTROD_REQUESTS_METRIC.name, endpointLabel: HOTROD_REQUESTS_METRIC.endpointLabel, errorLabel: HOTROD_REQUESTS_METRIC.errorLabel, errorValue: HOTROD_REQUESTS_METRIC.errorValue };
}

/** The share of user requests each user endpoint gets from a list of request URLs sent in turn. */
function userMixOf(endpoints: readonly ServedEndpoint[], urls: readonly string[]): RehearsalTarget['userMix'] {
  const counts = endpoints.map((endpoint) => ({ endpoint, n: urls.filter((u) => servesUrl(endpoint, u)).length }));
  const total = counts.reduce((sum, c) => sum + c.n, 0);
  if (total === 0) throw new RehearsalInputError(`the traffic generator sends none of the user endpoints ${endpoints.map((e) => e.spanName).join(', ')}`);
  return counts.filter((c) => c.n > 0).map((c) => ({ endpoint: c.endpoint, share: c.n / total }));
}

/** A metric of an AnalysisTemplate, as plain data. */
interface PlainMetric extends PlainMetricTiming {
  readonly name: string;
  readonly successCondition?: string;
  readonly failureCondition?: string;
  readonly provider?: { readonly prometheus?: { readonly query?: string } };
}

/** Seconds of an Argo Rollouts duration string (`90s`, `1m30s`, `500ms`), or an input error naming where it was. */
export function durationSecondsAt(text: string, where: string): number {
  try {
    return parseSeconds(text);
  } catch (e) {
    throw new RehearsalInputError(`${where}: ${(e as Error).message}`);
  }
}

function gateFromMetric(m: PlainMetric, where: string, kind?: GateKind): RehearsalGate {
  const at = `${where} metric '${m.name}'`;
  const query = m.provider?.prometheus?.query;
  if (!query) throw new RehearsalInputError(`${at} has no prometheus query; only the prometheus provider can be rehearsed`);
  const condition = m.successCondition ?? m.failureCondition;
  let threshold: ResultComparison | undefined;
  try {
    threshold = condition ? conditionShape(parseCondition(condition)).comparisons[0] : undefined;
  } catch (e) {
    throw new RehearsalInputError(`${at}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let schedule: MetricSchedule;
  try {
    schedule = readMetricSchedule(m);
  } catch (e) {
    throw new RehearsalInputError(`${at} ${(e as Error).message}; the rehearsal needs plain timings and a finite count`);
  }
  return {
    name: m.name,
    kind,
    query,
    successCondition: m.successCondition,
    failureCondition: m.failureCondition,
    threshold,
    ...schedule,
  };
}

/** The kind of a gate read from a plain template, recognised by the series its query reads. */
function kindOfQuery(query: string, requests: { metric: string; errorLabel: string; errorValue: string }, series: SpanmetricsSeries): GateKind | undefined {
  if (query.includes(series.durationBucket)) return GateKind.LATENCY;
  const errorMatcher = new RegExp(`\\b(exported_)?${requests.errorLabel}\\s*=\\s*"${requests.errorValue}"`);
  if (query.includes(requests.metric) && errorMatcher.test(query)) return GateKind.ERROR_RATE;
  if (query.includes(requests.metric)) return GateKind.TRAFFIC;
  return undefined;
}

type Obj = Manifest & { spec?: any };

/**
 * The target described by a folder of manifests: the Rollout with an analysis step, the
 * AnalysisTemplate it runs, and the collector configuration (in a ConfigMap) with a
 * spanmetrics connector exported through a prometheus exporter.
 */
export function targetFromManifests(dir: string, options: { readonly prometheus?: PrometheusBackend } = {}): RehearsalTarget {
  const prometheus = options.prometheus ?? PrometheusBackend.communityChart();
  let manifests: LoadedManifest[];
  try {
    manifests = loadManifests(dir);
  } catch (e) {
    if (e instanceof ManifestReadError) throw new RehearsalInputError(e.message);
    throw e;
  }
  const objects = manifests.map((m) => m.object as Obj);
  const rollouts = objects.filter((o) => o.kind === 'Rollout' && (o.spec?.strategy?.canary?.steps ?? []).some((s: any) => s.analysis));
  if (rollouts.length !== 1) {
    throw new RehearsalInputError(`${dir}: expected one Rollout with a canary analysis step, found ${rollouts.length}`);
  }
  const rollout = rollouts[0];
  const namespace = rollout.metadata.namespace;
  if (!namespace) throw new RehearsalInputError(`${dir}: Rollout '${rollout.metadata.name}' has no metadata.namespace; the gates' namespace argument needs one`);

  let weight = 0;
  let step: any;
  for (const s of rollout.spec.strategy.canary.steps) {
    if (s.setWeight !== undefined) weight = s.setWeight;
    if (s.analysis) { step = s.analysis; break; }
  }
  const templateNames: string[] = (step.templates ?? []).map((t: any) => t.templateName);
  const templates = templateNames.map((name) => {
    const t = objects.find((o) => o.kind === 'AnalysisTemplate' && o.metadata.name === name && (o.metadata.namespace ?? namespace) === namespace);
    if (!t) throw new RehearsalInputError(`${dir}: the Rollout's analysis step names AnalysisTemplate '${name}', which is not in the folder`);
    return t;
  });
  if (templates.length === 0) throw new RehearsalInputError(`${dir}: the Rollout's analysis step names no template`);

  const found = findCollectorConfigs(manifests).find((c) => spanmetricsConnectorOf(c.config) !== undefined);
  if (!found) throw new RehearsalInputError(`${dir}: no collector configuration with a spanmetrics connector in any ConfigMap; the latency series cannot be named`);
  const connector = spanmetricsConnectorOf(found.config)!;
  const exporter = prometheusExporterOf(found.config);
  const series = spanmetricsSeries(connector, exporter);
  const histogram = (connector.histogram ?? {}) as { explicit?: { buckets?: unknown[] } };
  const configMapName = found.configMap.object.metadata.name;
  const collectorNamespace = found.configMap.object.metadata.namespace ?? 'default';
  const workload = objects.find((o) => (o.kind === 'DaemonSet' || o.kind === 'Deployment') && (o.metadata.namespace ?? 'default') === collectorNamespace
    && (o.spec?.template?.spec?.volumes ?? []).some((v: any) => v.configMap?.name === configMapName));

  const identity = podIdentityAttributes(rollout);
  const dims = Array.isArray(connector.dimensions) ? connector.dimensions as { name: string; default?: string }[] : [];
  const requests = requestsMetric();
  const podLabels = { ...(rollout.spec.template?.metadata?.labels ?? {}) } as Record<string, string>;
  delete podLabels[ROLLOUTS_POD_TEMPLATE_HASH_LABEL];
  const unit = series.histogramUnit;
  const pods = podsAtWeight(rollout.spec.replicas ?? 1, weight);
  const container = rollout.spec.template?.spec?.containers?.[0] ?? {};
  const portOf = (c: any, port: number) => ((c?.ports ?? []) as { name?: string; containerPort?: number }[]).find((p) => p.containerPort === port)?.name;
  const serviceHosts = objects.filter((o) => o.kind === 'Service' && (o.metadata.namespace ?? namespace) === namespace && selectsAll(o.spec?.selector, podLabels))
    .map((o) => `${o.metadata.name}.${namespace}`);
  const load = trafficLoad(objects, serviceHosts);
  const userEndpoints = (Object.values(HOTROD_ENDPOINTS) as ServedEndpoint[]).filter((e) => e.caller === 'user');
  if (!load) {
    throw new RehearsalInputError(`${dir}: no traffic generator found (a workload whose script runs curl against ${serviceHosts.join(' or ') || "the rollout's Service"} `
      + "in a 'for path in ...' loop with 'sleep SECONDS'); the rehearsal needs the canary's request rate");
  }
  const collectorMetricsPort = Number(String(exporter?.endpoint ?? '').split(':').pop());

  return {
    source: `${dir}, ${prometheus.name}`,
    namespace,
    args: (step.args ?? []).map((a: any) => ({ name: a.name, valueFrom: a.valueFrom, value: a.value })),
    pods,
    prometheus,
    canaryUserRequestsPerSecond: load.requestsPerSecond / (pods.canary + pods.stable),
    userMix: userMixOf(userEndpoints, load.paths),
    workload: {
      name: String(rollout.metadata.name),
      container: container.name ?? String(rollout.metadata.name),
      metricsPort: { name: portOf(container, HOTROD_IMAGE.metrics.port) ?? 'metrics', number: HOTROD_IMAGE.metrics.port },
    },
    requests: { ...requests, podLabels, hashPodLabel: ROLLOUTS_POD_TEMPLATE_HASH_LABEL },
    spanmetrics: {
      series,
      dimensions: dims.map((d) => {
        const source = identity[d.name];
        return { label: series.dimensionLabels[d.name], from: source?.from, value: source?.value ?? d.default };
      }),
      bucketBounds: histogram.explicit?.buckets
        ? histogram.explicit.buckets.map((b) => durationInUnit(Duration.millis(durationSecondsAt(String(b), `${configMapName} spanmetrics bucket`) * 1000), unit))
        : SPANMETRICS_DEFAULT_BUCKETS.map((b) => durationInUnit(b, unit)),
      flushSeconds: connector.metrics_flush_interval ? durationSecondsAt(String(connector.metrics_flush_interval), `${configMapName} metrics_flush_interval`) : SPANMETRICS_DEFAULT_FLUSH_INTERVAL.toSeconds(),
      // HotROD's SDK batch timeout; the batch processor's default timeout when the config batches
      exportDelaySeconds: (HOTROD_EXPORT_DELAY_MS + (Object.keys(found.config.processors ?? {}).some((id) => id === 'batch' || id.startsWith('batch/')) ? BATCH_PROCESSOR_DEFAULT_TIMEOUT.toMilliseconds() : 0)) / 1000,
      msPerUnit: unit === HistogramUnit.SECONDS ? 1000 : 1,
    },
    collector: {
      name: workload?.metadata?.name ?? 'collector',
      namespace: collectorNamespace,
      podLabels: workload?.spec?.template?.metadata?.labels ?? {},
      scrapePort: collectorMetricsPort,
      scrapePortName: portOf(workload?.spec?.template?.spec?.containers?.[0], collectorMetricsPort) ?? 'metrics',
    },
    gates: templates.flatMap((t) => (t.spec?.metrics ?? []).map((m: PlainMetric) => {
      const gate = gateFromMetric(m, `AnalysisTemplate '${t.metadata.name}'`);
      return { ...gate, kind: kindOfQuery(gate.query, requests, series) };
    })),
  };
}

/** Whether a Service selector (all its labels) matches the pod labels. */
function selectsAll(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * The load a traffic generator of the folder sends to the rollout's Service: read from a shell
 * loop `for path in 'a' 'b'; do curl ... "$URL$path" ...; sleep SECONDS` (the TrafficGenerator's
 * script, or one written like it) whose URL env names one of `hosts`.
 */
function trafficLoad(objects: readonly Obj[], hosts: readonly string[]): { requestsPerSecond: number; paths: string[] } | undefined {
  for (const o of objects.filter((x) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Pod'].includes(x.kind))) {
    const spec = o.kind === 'Pod' ? o.spec : o.spec?.template?.spec;
    for (const c of spec?.containers ?? []) {
      const script = [...(c.command ?? []), ...(c.args ?? [])].join('\n');
      const env = ((c.env ?? []) as { value?: string }[]).map((e) => e.value ?? '').join(' ');
      if (!/\bcurl\b/.test(script) || !hosts.some((h) => `${script} ${env}`.includes(h))) continue;
      const loop = /for\s+\w+\s+in\s+([^;\n]+);/.exec(script);
      const sleep = /\bsleep\s+([0-9.]+)/.exec(script);
      if (!loop || !sleep) continue;
      const paths = [...loop[1].matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
      return { requestsPerSecond: 1000 / (Number(sleep[1]) * 1000 + LOOP_OVERHEAD_MS), paths };
    }
  }
  return undefined;
}

function componentsOf(config: Record<string, unknown>, section: string, type: string): Record<string, unknown>[] {
  const entries = Object.entries((config[section] ?? {}) as Record<string, unknown>);
  return entries.filter(([id]) => id === type || id.startsWith(`${type}/`)).map(([, v]) => (v ?? {}) as Record<string, unknown>);
}

function spanmetricsConnectorOf(config: Record<string, unknown>): Record<string, any> | undefined {
  return componentsOf(config, 'connectors', 'spanmetrics')[0];
}

function prometheusExporterOf(config: Record<string, unknown>): Record<string, unknown> | undefined {
  return componentsOf(config, 'exporters', 'prometheus')[0];
}

const FIELD_PATHS: Record<string, PodField> = {
  'metadata.namespace': 'namespace',
  'metadata.name': 'podName',
  [`metadata.labels['${ROLLOUTS_POD_TEMPLATE_HASH_LABEL}']`]: 'podTemplateHash',
};

/** Resource attribute key -> what the pod puts in it, read from OTEL_RESOURCE_ATTRIBUTES and the downward API. */
function podIdentityAttributes(rollout: Obj): Record<string, { from?: PodField; value?: string }> {
  const env: { name: string; value?: string; valueFrom?: any }[] = rollout.spec.template?.spec?.containers?.[0]?.env ?? [];
  const attributes = env.find((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES')?.value ?? '';
  const out: Record<string, { from?: PodField; value?: string }> = {};
  for (const pair of attributes.split(',').filter((p) => p.includes('='))) {
    const [key, raw] = [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()];
    const ref = /^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(raw);
    const field = ref ? FIELD_PATHS[env.find((e) => e.name === ref[1])?.valueFrom?.fieldRef?.fieldPath ?? ''] : undefined;
    out[key] = field ? { from: field } : { value: raw };
  }
  return out;
}
