import { requiredRequestsPerSecond } from '../analysis/evidence';
import { readPromql } from '../analysis/promql';
import { LoadedManifest, loadManifests, ManifestReadError } from '../manifests';
import { analysisStepOf, CanaryModel, canaries, exportDelayOf } from '../model/rollouts';
import { AnalysisModel, metricSpecs } from '../model/analyses';
import { effectiveCount, MetricReadError, MetricSpec, validateMetricSpecs } from '../analysis/schedule';
import { Collector } from '../model/collectors';
import { GateDesign, GateKind } from '../model/gates';
import { asArr, asObj, asStr, DeliveryModel, modelOf, ModelOptions } from '../model/model';
import { podsAtWeight, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { durationInUnit, HistogramUnit, SPANMETRICS_DEFAULT_BUCKETS, SPANMETRICS_DEFAULT_FLUSH_INTERVAL, SpanmetricsSeries } from '../platform/collector-config';
import { DEFAULT_METHOD, ImageFacts, ServedEndpoint } from '../platform/image-facts';
import { PodScrape, PROMETHEUS_OPERATOR_GROUP, PROMETHEUS_PRESETS } from '../platform/metrics-backend';
import { OTEL_ENV, parseResourceAttributes, SERVICE_NAME_ATTRIBUTE } from '../platform/otel';
import { parseDurationSeconds } from '../util';
import { checkGateSeries, PodField, RehearsalGate, RehearsalInputError, RehearsalTarget, RequestSeries, rolloutId, userMixOf } from './target';

/*
 * The rehearsal targets of a delivery, read from its model (lib/model): each Rollout with an
 * analysis step, the templates it runs, the collector its spans reach, and the traffic generator
 * that calls it. What the manifests cannot show (where the service counts its requests, the spans
 * it emits) comes from the image's facts in the model's catalogue (a preset's, or the facts a
 * delivery registers for its own services), else from the container's OpenTelemetry environment
 * and the gates. The same reader serves a folder of YAML and the objects the constructs just
 * synthesized, so both are rehearsed alike.
 */

/**
 * One target per Rollout of the model that runs an analysis; an input error when there is none.
 * `source` says where the model was read from (a folder, an app file), for messages and reports.
 */
export function targetsFromModel(model: DeliveryModel, source: string): RehearsalTarget[] {
  const withAnalysis = canaries(model).filter((c) => c.steps.some((s) => s.analysis));
  if (withAnalysis.length === 0) {
    throw new RehearsalInputError(`${source}: no Rollout with a canary analysis step; the rehearsal replays the analysis a Rollout's canary step runs `
      + '(spec.strategy.canary.steps[].analysis)');
  }
  return withAnalysis.map((c) => targetOf(model, c, source));
}

/** The targets of a folder of manifests, read with these model options (the Prometheus setup, the image facts). */
export function targetsFromManifests(dir: string, options: ModelOptions = {}): RehearsalTarget[] {
  return targetsFromModel(modelOf(readFolder(dir), options), dir);
}

/** The target of the folder's one Rollout with an analysis step; an input error when there are several (pick one with {@link targetsFromManifests}). */
export function targetFromManifests(dir: string, options: ModelOptions = {}): RehearsalTarget {
  const targets = targetsFromManifests(dir, options);
  if (targets.length !== 1) {
    throw new RehearsalInputError(`${dir}: ${targets.length} Rollouts run an analysis (${targets.map((t) => t.rollout).join(', ')}); `
      + 'rehearse them all with targetsFromManifests, or pick one (rehearse --rollout NAME)');
  }
  return targets[0];
}

function readFolder(dir: string): LoadedManifest[] {
  try {
    return loadManifests(dir);
  } catch (e) {
    if (e instanceof ManifestReadError) throw new RehearsalInputError(e.message);
    throw e;
  }
}

/** The Prometheus setup a folder is made for, by the way it has its pods scraped, and why. */
export interface FolderSetup {
  /** a key of PROMETHEUS_PRESETS */
  readonly preset: string;
  readonly reason: string;
}

/** The first preset (in PROMETHEUS_PRESETS' order: the community chart first) that scrapes pods this way. */
function presetScraping(podScrape: PodScrape): string {
  return Object.keys(PROMETHEUS_PRESETS).find((name) => PROMETHEUS_PRESETS[name]().podScrape === podScrape)!;
}

/**
 * The Prometheus setup a folder is made for, by how its pods are scraped: through
 * prometheus-operator's PodMonitor or ServiceMonitor objects (the preset that makes PodMonitors,
 * kube-prometheus-stack), or by annotations (the first preset that reads them, the community
 * chart). Its scrape interval can only be a preset's: the folder does not say it.
 */
export function folderSetup(dir: string): FolderSetup {
  return setupOf(readFolder(dir));
}

/** {@link folderSetup} of manifests already read. */
export function setupOf(manifests: readonly LoadedManifest[]): FolderSetup {
  const monitor = manifests.map((m) => m.object)
    .find((o) => String(o.apiVersion).startsWith(`${PROMETHEUS_OPERATOR_GROUP}/`) && (o.kind === 'PodMonitor' || o.kind === 'ServiceMonitor'));
  if (monitor) {
    return { preset: presetScraping(PodScrape.POD_MONITOR), reason: `it scrapes through prometheus-operator (${monitor.kind} ${[monitor.metadata?.namespace, monitor.metadata?.name].filter(Boolean).join('/')})` };
  }
  return { preset: presetScraping(PodScrape.ANNOTATIONS), reason: 'it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations' };
}

function targetOf(model: DeliveryModel, canary: CanaryModel, source: string): RehearsalTarget {
  const where = `${source}: Rollout ${canary.id}`;
  const step = analysisStepOf(model, canary)!;
  if (step.missing.length > 0) {
    throw new RehearsalInputError(`${where}: the analysis step names AnalysisTemplate '${step.missing[0]}', which is not in the folder`);
  }
  if (step.analyses.length === 0) throw new RehearsalInputError(`${where}: the analysis step names no template`);
  checkRunSpec(step.analyses, where);
  const gates = step.analyses.flatMap((a) => gatesOf(a, `${where}: AnalysisTemplate '${a.name}'`));
  const dryRun = [...step.use.dryRun, ...step.analyses.flatMap((a) => a.dryRun)];
  const twice = dryRun.find((rule, i) => dryRun.indexOf(rule) !== i);
  if (twice !== undefined) {
    throw new RehearsalInputError(`${where}: the dry-run rule '${twice}' is given twice (by the analysis step or its templates); Argo Rollouts then creates no AnalysisRun: keep one`);
  }

  const collector = collectorOf(model, canary, where);
  const exported = collector.exportedSpanmetrics()[0];
  const connector = collector.config.configOf('connectors', exported.connectorId);
  const series = exported.series;
  const unit = series.histogramUnit;
  const identity = podIdentityAttributes(canary);
  const collectorPod = collector.pods[0]?.pod;
  const facts = canary.facts;
  const pods = podsAtWeight(canary.replicas, step.step.weight);
  const generator = canary.generators[0];
  const counter = requestCounterOf(facts);
  const metricsPort = canary.scrape && (counter || facts?.scrapeSpanName) ? { name: canary.scrape.port.name ?? 'metrics', number: canary.scrape.port.number } : undefined;
  const requests = generator?.requests
    ?? (facts?.endpoints ?? []).filter((e) => e.caller === 'user').flatMap((e) => (e.urls ?? []).map((path) => ({ path, method: e.method ?? DEFAULT_METHOD })));
  const endpoints = facts?.endpoints ?? userEndpointsFromGates(gates, series, serviceNameOf(canary, where), requests, where);
  const exportDelay = exportDelayOf(canary, collector);
  if (exportDelay.problem) throw new RehearsalInputError(`${where}: ${exportDelay.problem}`);
  const buckets = asArr(asObj(asObj(connector.histogram).explicit).buckets);
  const flush = asStr(connector.metrics_flush_interval);

  const target: RehearsalTarget = {
    source: `${source}, ${model.prometheus.name}`,
    rollout: rolloutId(canary.namespace, canary.name),
    namespace: canary.namespace,
    args: step.use.args.map((a) => ({ name: a.name, value: a.value, valueFrom: a.valueFrom as RehearsalTarget['args'][number]['valueFrom'] })),
    pods,
    prometheus: model.prometheus,
    canaryUserRequestsPerSecond: generator ? generator.requestsPerSecond / (pods.canary + pods.stable) : requiredRate(step.analyses, gates, where) / pods.canary,
    userMix: userMixOf(endpoints.filter((e) => e.caller === 'user'), endpoints, requests, where),
    scrapeSpan: metricsPort && facts?.scrapeSpanName ? endpoints.find((e) => e.spanName === facts.scrapeSpanName) : undefined,
    workload: { name: canary.name, container: canary.container.name || canary.name, podLabels: canary.podLabels, hashPodLabel: ROLLOUTS_POD_TEMPLATE_HASH_LABEL, metricsPort },
    requests: counter ?? { kind: 'spanmetrics' },
    spanmetrics: {
      series,
      dimensions: asArr(connector.dimensions).map(asObj).map((d) => {
        const name = asStr(d.name) ?? '';
        const from = identity[name];
        return { label: series.dimensionLabels[name], from: from?.from, value: from?.value ?? asStr(d.default) };
      }),
      bucketBounds: buckets.length > 0
        // in whole microseconds: 1.4s is 1400 ms, not 1400.0000000000002
        ? buckets.map((b) => Math.round(secondsAt(String(b), `${collector.ref.name} spanmetrics bucket`) * 1e6) / (unit === HistogramUnit.SECONDS ? 1e6 : 1e3))
        : SPANMETRICS_DEFAULT_BUCKETS.map((b) => durationInUnit(b, unit)),
      flushSeconds: flush ? secondsAt(flush, `${collector.ref.name} metrics_flush_interval`) : SPANMETRICS_DEFAULT_FLUSH_INTERVAL.toSeconds(),
      exportDelaySeconds: exportDelay.ms / 1000,
      msPerUnit: unit === HistogramUnit.SECONDS ? 1000 : 1,
    },
    collector: {
      name: collectorPod?.ref.name ?? 'collector',
      namespace: collectorPod?.namespace ?? collector.ref.namespace ?? 'default',
      podLabels: collectorPod?.labels ?? {},
      scrapePort: exported.port ?? 0,
      scrapePortName: collectorPod?.containers.flatMap((c) => c.ports).find((p) => p.containerPort === exported.port)?.name ?? 'metrics',
    },
    gates,
    ...(facts?.healthy ? { healthy: facts.healthy } : {}),
    dryRun,
  };
  checkGateSeries(target, where);
  return target;
}

/**
 * Argo Rollouts' validation of the run the step creates (its templates' metrics, flattened; an
 * invalid spec makes the AnalysisRun Error before it measures): an input error naming the problem.
 */
function checkRunSpec(analyses: readonly AnalysisModel[], where: string): void {
  const specs = analyses.flatMap((a) => metricSpecs(a.template).map((spec) => ({ a, spec })));
  const unreadable = specs.find((s) => s.spec instanceof MetricReadError);
  if (unreadable) throw new RehearsalInputError(`${where}: AnalysisTemplate '${unreadable.a.name}': ${(unreadable.spec as Error).message}`);
  const problem = validateMetricSpecs(specs.map((s) => s.spec as MetricSpec));
  if (problem) {
    const at = problem.index === undefined ? '' : ` metric '${problem.metric}' (metrics[${problem.index}] of the run, field ${problem.field})`;
    throw new RehearsalInputError(`${where}:${at}: ${problem.reason}; Argo Rollouts puts the AnalysisRun in Error before it measures anything: ${problem.fix}`);
  }
}

/** The gates of a template as the rehearsal replays them; an input error for what it cannot read. */
function gatesOf(analysis: AnalysisModel, at: string): RehearsalGate[] {
  if (analysis.annotationProblem) throw new RehearsalInputError(`${at}: ${analysis.annotationProblem.message}`);
  if (analysis.otherMetrics.length > 0) {
    throw new RehearsalInputError(`${at} metric '${analysis.otherMetrics[0]}' has no prometheus query; only the prometheus provider can be rehearsed`);
  }
  return analysis.gates.map((g) => {
    const gate = `${at} metric '${g.name}'`;
    if (g.conditionProblem) throw new RehearsalInputError(`${gate}: ${g.conditionProblem}`);
    if (!g.schedule) throw new RehearsalInputError(`${gate} ${g.scheduleProblem}`);
    if (effectiveCount(g.schedule) === undefined) {
      throw new RehearsalInputError(`${gate} has an interval and no count, so it measures until a limit, its success streak or the run's end decides it; `
        + 'the rehearsal replays an analysis step to its end: give it a count');
    }
    return {
      name: g.name,
      kind: g.kind,
      // a quantile compared with a latency, or a sequential test on the share slower than a bound (1 - quantile)
      quantile: g.kind === GateKind.LATENCY ? (g.quantile ?? latencyQuantile(analysis.design?.gates?.[g.name])) : undefined,
      query: g.query,
      successCondition: g.successCondition,
      failureCondition: g.failureCondition,
      threshold: g.threshold,
      design: analysis.design?.gates?.[g.name],
      ...g.schedule,
    };
  });
}

/** The quantile a sequential latency gate's design holds below its bound. */
function latencyQuantile(design: GateDesign | undefined): number | undefined {
  return design?.latencyBound === undefined ? undefined : Number((1 - design.threshold).toPrecision(12));
}

/**
 * Without a traffic generator, the rate the canary gets is the one its gates are designed for:
 * the evidence (the traffic gate's threshold) within the evidence time their annotation states.
 */
function requiredRate(analyses: readonly AnalysisModel[], gates: readonly RehearsalGate[], where: string): number {
  const design = analyses.find((a) => a.design)?.design;
  if (design?.canaryRequestsPerSecond) return design.canaryRequestsPerSecond;
  const evidence = gates.find((g) => g.kind === GateKind.TRAFFIC)?.threshold?.value;
  if (!design || evidence === undefined) {
    throw new RehearsalInputError(`${where}: no traffic generator found (a workload whose script runs curl against the rollout's Service `
      + "in a 'for path in ...' loop with 'sleep SECONDS'); the rehearsal needs the canary's request rate");
  }
  return requiredRequestsPerSecond(evidence, design.evidenceSeconds);
}

/** The one collector with a spanmetrics connector its spans reach; an input error otherwise. */
function collectorOf(model: DeliveryModel, canary: CanaryModel, where: string): Collector {
  const withSpanmetrics = canary.collectors.filter((c) => c.exportedSpanmetrics().length > 0);
  if (withSpanmetrics.length === 1) return withSpanmetrics[0];
  const all = canaries(model).length > 0 ? canary.collectors : [];
  if (withSpanmetrics.length === 0 && all.length === 0) {
    throw new RehearsalInputError(`${where}: its spans reach no collector configuration with a spanmetrics connector exported to Prometheus; the latency series cannot be named `
      + `(set ${OTEL_ENV.endpoint} to the collector's Service, and give the collector a spanmetrics connector and a prometheus exporter)`);
  }
  throw new RehearsalInputError(`${where}: its spans reach ${withSpanmetrics.length === 0 ? 'no' : withSpanmetrics.length} collector configurations with a spanmetrics connector `
    + `(${(withSpanmetrics.length > 0 ? withSpanmetrics : all).map((c) => `ConfigMap ${c.ref.namespace}/${c.ref.name}`).join(', ')}); point ${OTEL_ENV.endpoint} at one collector's Service`);
}

/** A known image's request counter: a series it serves that counts spans by name and marks failed ones. */
function requestCounterOf(facts: ImageFacts | undefined): RequestSeries | undefined {
  const s = facts?.metrics?.series.find((x) => x.spanNameLabel && x.failed);
  return s ? { kind: 'counter', metric: s.name, endpointLabel: s.spanNameLabel!, errorLabel: s.failed!.label, errorValue: s.failed!.value } : undefined;
}

/**
 * The `service.name` of the container's spans: OTEL_SERVICE_NAME, else `service.name` in
 * OTEL_RESOURCE_ATTRIBUTES (OTEL_SERVICE_NAME wins when both are set: open-telemetry/
 * opentelemetry-specification specification/configuration/sdk-environment-variables.md @ v1.40.0).
 */
function serviceNameOf(canary: CanaryModel, where: string): string {
  const name = canary.env.get(OTEL_ENV.serviceName) || parseResourceAttributes(canary.env.get(OTEL_ENV.resourceAttributes) ?? '').get(SERVICE_NAME_ATTRIBUTE);
  if (name) return name;
  const { container, facts } = canary;
  throw new RehearsalInputError(`${where}: container '${container.name}' sets neither ${OTEL_ENV.serviceName} nor ${SERVICE_NAME_ATTRIBUTE} in ${OTEL_ENV.resourceAttributes}, `
    + `and its image '${container.image}' is ${facts ? 'known but lists no endpoints' : 'not one the rehearsal has facts of (a preset, or a service of the app)'}; `
    + `set ${OTEL_ENV.serviceName} to the service.name its spans carry`);
}

/** The span name of an HTTP server span of a path: `{method} {http.route}` (open-telemetry/semantic-conventions docs/http/http-spans.md @ v1.26.0, "Name"). */
function httpSpanName(method: string, path: string): string {
  return `${method} ${path}`;
}

/** The path of a request URL. */
function pathOf(url: string): string {
  return url.split('?')[0];
}

/**
 * The user endpoints of a service the rehearsal has no facts of: the span names the gates'
 * spanmetrics selectors match literally, each reached by the generator's paths it names
 * (`/cart` reaches `GET /cart` and `/cart`); without such matchers, one endpoint per path the
 * generator sends, named as HTTP instrumentation names server spans.
 */
function userEndpointsFromGates(gates: readonly RehearsalGate[], series: SpanmetricsSeries, service: string, requests: readonly SentRequest[], where: string): ServedEndpoint[] {
  const spanNames = gateSpanNames(gates, series);
  const distinct = [...new Map(requests.map((r) => [`${r.method} ${pathOf(r.path)}`, { method: r.method, path: pathOf(r.path) }])).values()];
  if (spanNames.length === 0) {
    return distinct.map((r) => ({ spanName: httpSpanName(r.method, r.path), service, caller: 'user', urls: [r.path], method: r.method }));
  }
  const endpoints = spanNames.map((spanName): ServedEndpoint => {
    // `POST /p` is reached by POSTs to /p; a bare `/p` by any request to it, the first method sent there
    const reaching = distinct.filter((r) => spanName === r.path || spanName === httpSpanName(r.method, r.path));
    return { spanName, service, caller: 'user', urls: [...new Set(reaching.map((r) => r.path))], method: reaching[0]?.method };
  });
  if (endpoints.every((e) => e.urls!.length === 0)) {
    throw new RehearsalInputError(`${where}: the gates count the span names ${spanNames.map((s) => `'${s}'`).join(', ')} of service '${service}', but the traffic generator sends `
      + `${distinct.map((r) => `${r.method} ${r.path}`).join(', ')}, which reach none of them (a request METHOD /p reaches the span names '/p' and 'METHOD /p'); make the gates' span_name matchers name `
      + 'the routes the generator calls, or give the image\'s facts (its endpoints and their URLs) to the catalogue');
  }
  return endpoints;
}

/** The span names the gates' spanmetrics selectors match: `span_name="x"`, or each literal alternative of `span_name=~"x|y"`. */
function gateSpanNames(gates: readonly RehearsalGate[], series: SpanmetricsSeries): string[] {
  const spanNameLabel = series.intrinsicLabels[1];
  const metrics = [series.calls, series.durationBucket, series.durationCount, series.durationSum];
  const out = new Set<string>();
  for (const g of gates) {
    const read = readPromql(g.query);
    for (const sel of read.selectors.filter((s) => s.metric && metrics.includes(s.metric))) {
      for (const m of sel.matchers.filter((x) => x.label === spanNameLabel)) {
        if (m.op === '=') out.add(m.value);
        if (m.op === '=~') for (const alt of literalAlternatives(m.value)) out.add(alt);
      }
    }
  }
  return [...out];
}

/** The alternatives of a regex that is a `|` list of literals (escaped metacharacters allowed); none when it is a real pattern. */
function literalAlternatives(regex: string): string[] {
  const alternatives: string[] = [];
  let current = '';
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\' && i + 1 < regex.length) { current += regex[++i]; continue; }
    if (c === '|') { alternatives.push(current); current = ''; continue; }
    if ('.*+?^$()[]{}'.includes(c)) return [];
    current += c;
  }
  alternatives.push(current);
  return alternatives.filter((a) => a.length > 0);
}

/** A request the traffic generator sends: its path and query, and its method. */
interface SentRequest {
  readonly path: string;
  readonly method: string;
}

/** Seconds of a duration string of the collector config, or an input error naming where it was. */
function secondsAt(text: string, where: string): number {
  try {
    return parseDurationSeconds(text);
  } catch (e) {
    throw new RehearsalInputError(`${where}: ${(e as Error).message}`);
  }
}

/** The downward-API fields the pod identity attributes come from. */
const FIELD_PATHS: Record<string, PodField> = {
  'metadata.namespace': 'namespace',
  'metadata.name': 'podName',
  [`metadata.labels['${ROLLOUTS_POD_TEMPLATE_HASH_LABEL}']`]: 'podTemplateHash',
};

/** Resource attribute key -> what the pod puts in it, read from OTEL_RESOURCE_ATTRIBUTES and the downward API. */
function podIdentityAttributes(canary: CanaryModel): Record<string, { from?: PodField; value?: string }> {
  const env = asArr(canary.container.raw.env).map(asObj);
  const attributes = asStr(env.find((e) => e.name === OTEL_ENV.resourceAttributes)?.value) ?? '';
  const out: Record<string, { from?: PodField; value?: string }> = {};
  for (const [key, raw] of parseResourceAttributes(attributes)) {
    const ref = /^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(raw);
    const fieldPath = ref ? asStr(asObj(asObj(env.find((e) => e.name === ref[1])?.valueFrom).fieldRef).fieldPath) : undefined;
    const field = fieldPath ? FIELD_PATHS[fieldPath] : undefined;
    out[key] = field ? { from: field } : { value: raw };
  }
  return out;
}
