import { Duration } from 'cdk8s';
import { GateKind } from '../constructs/canary-analysis';
import { OTEL_SDK_DEFAULT_EXPORT_DELAY } from '../constructs/canary-rollout';
import { LOOP_OVERHEAD_MS } from '../constructs/traffic-generator';
import { readPromql } from '../analysis/promql';
import { FoundCollectorConfig, findCollectorConfigs, LoadedManifest, loadManifests, Manifest, ManifestReadError } from '../manifests';
import { GATE_KINDS_ANNOTATION, podsAtWeight, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { BATCH_PROCESSOR_DEFAULT_TIMEOUT, durationInUnit, HistogramUnit, SPANMETRICS_DEFAULT_FLUSH_INTERVAL, SpanmetricsSeries, spanmetricsSeries } from '../platform/collector-config';
import { ImageFacts, ServedEndpoint } from '../platform/image-facts';
import { PodScrape, PROMETHEUS_OPERATOR_GROUP, PROMETHEUS_PRESETS, PrometheusBackend } from '../platform/metrics-backend';
import { imageFacts } from '../presets/images';
import {
  checkGateSeries,
  durationSecondsAt,
  gateFromMetric,
  PlainMetric,
  PodField,
  RehearsalGate,
  RehearsalInputError,
  RehearsalTarget,
  RequestSeries,
  rolloutId,
  SPANMETRICS_DEFAULT_BUCKETS,
  userMixOf,
} from './target';

/*
 * The targets a folder of manifests describes: each Rollout with an analysis step, the
 * AnalysisTemplates it runs, the collector configuration (in a ConfigMap) its spans reach, and
 * the traffic generator that calls it. What the manifests cannot show (where the service counts
 * its requests, the spans it emits) comes from the image's facts when the image is known
 * (lib/presets/images.ts), else from the container's OpenTelemetry environment and the gates.
 */

type Obj = Manifest & { spec?: any };

/** Options of {@link targetsFromManifests}. */
export interface ManifestTargetOptions {
  /** the Prometheus that scrapes the pods and answers the gates @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
}

/** A folder's objects, loaded once for every rollout in it. */
interface Folder {
  readonly dir: string;
  readonly objects: readonly Obj[];
  readonly manifests: readonly LoadedManifest[];
  readonly prometheus: PrometheusBackend;
}

/** One target per Rollout of the folder that runs an analysis; an input error when there is none. */
export function targetsFromManifests(dir: string, options: ManifestTargetOptions = {}): RehearsalTarget[] {
  const folder = loadFolderForRehearsal(dir, options.prometheus ?? PrometheusBackend.communityChart());
  const rollouts = folder.objects.filter((o) => o.kind === 'Rollout' && analysisStepOf(o) !== undefined);
  if (rollouts.length === 0) {
    throw new RehearsalInputError(`${dir}: no Rollout with a canary analysis step; the rehearsal replays the analysis a Rollout's canary step runs `
      + '(spec.strategy.canary.steps[].analysis)');
  }
  return rollouts.map((r) => targetOfRollout(folder, r));
}

/** The target of the folder's one Rollout with an analysis step; an input error when there are several (pick one with {@link targetsFromManifests}). */
export function targetFromManifests(dir: string, options: ManifestTargetOptions = {}): RehearsalTarget {
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

function loadFolderForRehearsal(dir: string, prometheus: PrometheusBackend): Folder {
  const manifests = readFolder(dir);
  return { dir, manifests, objects: manifests.map((m) => m.object as Obj), prometheus };
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
  const monitor = readFolder(dir).map((m) => m.object)
    .find((o) => String(o.apiVersion).startsWith(`${PROMETHEUS_OPERATOR_GROUP}/`) && (o.kind === 'PodMonitor' || o.kind === 'ServiceMonitor'));
  if (monitor) {
    return { preset: presetScraping(PodScrape.POD_MONITOR), reason: `it scrapes through prometheus-operator (${monitor.kind} ${[monitor.metadata?.namespace, monitor.metadata?.name].filter(Boolean).join('/')})` };
  }
  return { preset: presetScraping(PodScrape.ANNOTATIONS), reason: 'it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations' };
}

/** The first analysis step of a Rollout's canary strategy and the weight in force when it runs. */
function analysisStepOf(rollout: Obj): { weight: number; step: any } | undefined {
  let weight = 0;
  for (const s of rollout.spec?.strategy?.canary?.steps ?? []) {
    if (s.setWeight !== undefined) weight = s.setWeight;
    if (s.analysis) return { weight, step: s.analysis };
  }
  return undefined;
}

function targetOfRollout(folder: Folder, rollout: Obj): RehearsalTarget {
  const { dir, objects, prometheus } = folder;
  const name = String(rollout.metadata.name);
  const namespace = rollout.metadata.namespace;
  if (!namespace) throw new RehearsalInputError(`${dir}: Rollout '${name}' has no metadata.namespace; the gates' namespace argument needs one`);
  const where = `${dir}: Rollout ${rolloutId(namespace, name)}`;
  const { weight, step } = analysisStepOf(rollout)!;
  const templates = templatesOf(folder, step, namespace, where);

  const container = telemetryContainer(rollout);
  const env = containerEnv(container);
  const found = collectorConfigOf(folder, env.OTEL_EXPORTER_OTLP_ENDPOINT, namespace, where);
  const connector = spanmetricsConnectorOf(found.config)!;
  const exporter = prometheusExporterOf(found.config);
  const series = spanmetricsSeries(connector, exporter);
  const histogram = (connector.histogram ?? {}) as { explicit?: { buckets?: unknown[] } };
  const configMapName = String(found.configMap.object.metadata.name);
  const collectorNamespace = found.configMap.object.metadata.namespace ?? 'default';
  const collector = collectorWorkloadOf(objects, configMapName, collectorNamespace);
  const collectorMetricsPort = Number(String(exporter?.endpoint ?? '').split(':').pop());

  const gates = templates.flatMap((t) => gatesOfTemplate(t, where));
  const facts = imageFacts(String(container.image ?? ''));
  const podLabels = { ...(rollout.spec.template?.metadata?.labels ?? {}) } as Record<string, string>;
  delete podLabels[ROLLOUTS_POD_TEMPLATE_HASH_LABEL];
  const pods = podsAtWeight(rollout.spec.replicas ?? 1, weight);
  const serviceHosts = objects.filter((o) => o.kind === 'Service' && (o.metadata.namespace ?? namespace) === namespace && selectsAll(o.spec?.selector, podLabels))
    .map((o) => `${o.metadata.name}.${namespace}`);
  const load = trafficLoad(objects, serviceHosts);
  if (!load) {
    throw new RehearsalInputError(`${where}: no traffic generator found (a workload whose script runs curl against ${serviceHosts.join(' or ') || "the rollout's Service"} `
      + "in a 'for path in ...' loop with 'sleep SECONDS'); the rehearsal needs the canary's request rate");
  }
  const counter = requestCounterOf(facts);
  const metricsPort = counter && facts?.metrics ? { name: portName(container, facts.metrics.port) ?? 'metrics', number: facts.metrics.port } : undefined;
  const endpoints = facts?.endpoints ?? userEndpointsFromGates(gates, series, serviceNameOf(env, facts, container, where), load.paths, where);
  const unit = series.histogramUnit;
  const identity = podIdentityAttributes(container);
  const dims = Array.isArray(connector.dimensions) ? connector.dimensions as { name: string; default?: string }[] : [];
  const batches = Object.keys(found.config.processors ?? {}).some((id) => id === 'batch' || id.startsWith('batch/'));

  const target: RehearsalTarget = {
    source: `${dir}, ${prometheus.name}`,
    rollout: rolloutId(namespace, name),
    namespace,
    args: (step.args ?? []).map((a: any) => ({ name: a.name, valueFrom: a.valueFrom, value: a.value })),
    pods,
    prometheus,
    canaryUserRequestsPerSecond: load.requestsPerSecond / (pods.canary + pods.stable),
    userMix: userMixOf(endpoints.filter((e) => e.caller === 'user'), endpoints, load.paths, where),
    scrapeSpan: metricsPort && facts?.scrapeSpanName ? endpoints.find((e) => e.spanName === facts.scrapeSpanName) : undefined,
    workload: { name, container: container.name ?? name, podLabels, hashPodLabel: ROLLOUTS_POD_TEMPLATE_HASH_LABEL, metricsPort },
    requests: counter ?? { kind: 'spanmetrics' },
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
      // the app's SDK delay, and the batch processor's default timeout when the config batches
      exportDelaySeconds: (sdkExportDelayMs(env, facts, where) + (batches ? BATCH_PROCESSOR_DEFAULT_TIMEOUT.toMilliseconds() : 0)) / 1000,
      msPerUnit: unit === HistogramUnit.SECONDS ? 1000 : 1,
    },
    collector: {
      name: collector?.metadata?.name ?? 'collector',
      namespace: collectorNamespace,
      podLabels: collector?.spec?.template?.metadata?.labels ?? {},
      scrapePort: collectorMetricsPort,
      scrapePortName: portName(collector?.spec?.template?.spec?.containers?.[0], collectorMetricsPort) ?? 'metrics',
    },
    gates,
  };
  checkGateSeries(target, where);
  return target;
}

/** The AnalysisTemplates an analysis step names, from the folder (in the rollout's namespace). */
function templatesOf(folder: Folder, step: any, namespace: string, where: string): Obj[] {
  const names: string[] = (step.templates ?? []).map((t: any) => t.templateName);
  if (names.length === 0) throw new RehearsalInputError(`${where}: the analysis step names no template`);
  return names.map((name) => {
    const t = folder.objects.find((o) => o.kind === 'AnalysisTemplate' && o.metadata.name === name && (o.metadata.namespace ?? namespace) === namespace);
    if (!t) throw new RehearsalInputError(`${where}: the analysis step names AnalysisTemplate '${name}', which is not in the folder`);
    return t;
  });
}

/** The gates of a template, each with the kind its {@link GATE_KINDS_ANNOTATION} gives (none without the annotation). */
function gatesOfTemplate(template: Obj, where: string): RehearsalGate[] {
  const at = `${where}: AnalysisTemplate '${template.metadata.name}'`;
  const kinds = gateKindsOf(template, at);
  return (template.spec?.metrics ?? []).map((m: PlainMetric) => {
    const kind = kinds[m.name];
    return gateFromMetric(m, at, kind, kind === GateKind.LATENCY ? quantileOf(m.provider?.prometheus?.query ?? '') : undefined);
  });
}

/** The gate kinds an AnalysisTemplate's annotation states; an unreadable annotation is an input error. */
export function gateKindsOf(template: Manifest, where: string): Readonly<Record<string, GateKind>> {
  const text = template.metadata.annotations?.[GATE_KINDS_ANNOTATION];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RehearsalInputError(`${where}: annotation ${GATE_KINDS_ANNOTATION} is not JSON (${(e as Error).message}); `
      + 'write a map of metric name to kind, e.g. {"traffic-gate": "traffic"}, or remove it');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RehearsalInputError(`${where}: annotation ${GATE_KINDS_ANNOTATION} must be a map of metric name to kind, got ${text}`);
  }
  const known = Object.values(GateKind) as string[];
  for (const [metric, kind] of Object.entries(parsed)) {
    if (!known.includes(kind as string)) {
      throw new RehearsalInputError(`${where}: annotation ${GATE_KINDS_ANNOTATION} gives metric '${metric}' the kind ${JSON.stringify(kind)}, `
        + `which is none of ${known.join(', ')}; fix it, or remove the entry to leave the kind unknown`);
    }
  }
  return parsed as Record<string, GateKind>;
}

/** The quantile of a latency query's `histogram_quantile(q, ...)`, when it is a number. */
function quantileOf(query: string): number | undefined {
  const m = /histogram_quantile\s*\(\s*([0-9.]+)\s*,/.exec(query);
  return m ? Number(m[1]) : undefined;
}

/** The container that reports the telemetry: the one with an OTLP endpoint, else the first. */
function telemetryContainer(rollout: Obj): any {
  const containers: any[] = rollout.spec.template?.spec?.containers ?? [];
  return containers.find((c) => containerEnv(c).OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) ?? containers[0] ?? {};
}

/** A container's literal environment values. */
function containerEnv(container: any): Record<string, string | undefined> {
  return Object.fromEntries(((container?.env ?? []) as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
}

function portName(container: any, port: number): string | undefined {
  return ((container?.ports ?? []) as { name?: string; containerPort?: number }[]).find((p) => p.containerPort === port)?.name;
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
function serviceNameOf(env: Record<string, string | undefined>, facts: ImageFacts | undefined, container: any, where: string): string {
  const fromAttributes = (env.OTEL_RESOURCE_ATTRIBUTES ?? '').split(',').map((p) => p.split('=')).find(([k]) => k?.trim() === 'service.name')?.[1]?.trim();
  const name = env.OTEL_SERVICE_NAME || fromAttributes;
  if (name) return name;
  throw new RehearsalInputError(`${where}: container '${container.name}' sets neither OTEL_SERVICE_NAME nor service.name in OTEL_RESOURCE_ATTRIBUTES, `
    + `and its image '${container.image}' is ${facts ? 'known but lists no endpoints' : 'not one the rehearsal knows (lib/presets/images.ts)'}; `
    + 'set OTEL_SERVICE_NAME to the service.name its spans carry');
}

/** The span name of an HTTP server span of a path: `{method} {http.route}` (open-telemetry/semantic-conventions docs/http/http-spans.md @ v1.26.0, "Name"); curl sends GET. */
function httpSpanName(path: string): string {
  return `GET ${path}`;
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
function userEndpointsFromGates(gates: readonly RehearsalGate[], series: SpanmetricsSeries, service: string, paths: readonly string[], where: string): ServedEndpoint[] {
  const spanNames = gateSpanNames(gates, series);
  const distinctPaths = [...new Set(paths.map(pathOf))];
  if (spanNames.length === 0) {
    return distinctPaths.map((p) => ({ spanName: httpSpanName(p), service, caller: 'user', urls: [p] }));
  }
  const endpoints = spanNames.map((spanName): ServedEndpoint => ({
    spanName, service, caller: 'user', urls: distinctPaths.filter((p) => spanName === p || spanName.endsWith(` ${p}`)),
  }));
  if (endpoints.every((e) => e.urls!.length === 0)) {
    throw new RehearsalInputError(`${where}: the gates count the span names ${spanNames.map((s) => `'${s}'`).join(', ')} of service '${service}', but the traffic generator sends `
      + `${distinctPaths.join(', ')}, which reach none of them (a path /p reaches the span names '/p' and 'METHOD /p'); make the gates' span_name matchers name `
      + 'the routes the generator calls, or add the image to lib/presets/images.ts with its endpoints and their URLs');
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

/**
 * The longest a finished span waits in the app's SDK: what the image sets in code (it wins over
 * the environment), else OTEL_BSP_SCHEDULE_DELAY (ms), else the SDK default of 5 s (see
 * OTEL_SDK_DEFAULT_EXPORT_DELAY for the source).
 */
function sdkExportDelayMs(env: Record<string, string | undefined>, facts: ImageFacts | undefined, where: string): number {
  if (facts?.exportDelayMs !== undefined) return facts.exportDelayMs;
  const text = env.OTEL_BSP_SCHEDULE_DELAY;
  if (text === undefined || text === '') return OTEL_SDK_DEFAULT_EXPORT_DELAY.toMilliseconds();
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0) throw new RehearsalInputError(`${where}: OTEL_BSP_SCHEDULE_DELAY is '${text}', not a number of milliseconds; write e.g. '1000'`);
  return ms;
}

/**
 * The collector configuration the rollout's spans reach: the one of the collector behind the
 * Service its OTEL_EXPORTER_OTLP_ENDPOINT names, else the folder's only one with a spanmetrics connector.
 */
function collectorConfigOf(folder: Folder, endpoint: string | undefined, namespace: string, where: string): FoundCollectorConfig {
  const configs = findCollectorConfigs(folder.manifests).filter((c) => spanmetricsConnectorOf(c.config) !== undefined);
  if (configs.length === 0) throw new RehearsalInputError(`${folder.dir}: no collector configuration with a spanmetrics connector in any ConfigMap; the latency series cannot be named`);
  if (configs.length === 1) return configs[0];
  const behind = endpoint ? configBehindEndpoint(folder, configs, endpoint, namespace) : undefined;
  if (behind) return behind;
  throw new RehearsalInputError(`${where}: the folder has ${configs.length} collector configurations with a spanmetrics connector `
    + `(${configs.map((c) => `ConfigMap ${c.configMap.object.metadata.namespace ?? 'default'}/${c.configMap.object.metadata.name}`).join(', ')}), and its `
    + `OTEL_EXPORTER_OTLP_ENDPOINT (${endpoint ?? 'unset'}) names no Service in front of one of them; set it to the collector's Service`);
}

/** The config of the collector whose pods the Service named by an OTLP endpoint selects. */
function configBehindEndpoint(folder: Folder, configs: readonly FoundCollectorConfig[], endpoint: string, namespace: string): FoundCollectorConfig | undefined {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return undefined;
  }
  const [serviceName, serviceNamespace = namespace] = host.split('.');
  const service = folder.objects.find((o) => o.kind === 'Service' && o.metadata.name === serviceName && (o.metadata.namespace ?? 'default') === serviceNamespace);
  if (!service) return undefined;
  const workloads = folder.objects.filter((o) => ['DaemonSet', 'Deployment', 'StatefulSet'].includes(o.kind) && (o.metadata.namespace ?? 'default') === serviceNamespace
    && selectsAll(service.spec?.selector, o.spec?.template?.metadata?.labels ?? {}));
  const configMaps = new Set(workloads.flatMap((w) => (w.spec?.template?.spec?.volumes ?? []).map((v: any) => v.configMap?.name).filter(Boolean)));
  return configs.find((c) => (c.configMap.object.metadata.namespace ?? 'default') === serviceNamespace && configMaps.has(c.configMap.object.metadata.name));
}

/** The collector workload that mounts a ConfigMap. */
function collectorWorkloadOf(objects: readonly Obj[], configMapName: string, namespace: string): Obj | undefined {
  return objects.find((o) => (o.kind === 'DaemonSet' || o.kind === 'Deployment') && (o.metadata.namespace ?? 'default') === namespace
    && (o.spec?.template?.spec?.volumes ?? []).some((v: any) => v.configMap?.name === configMapName));
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
function podIdentityAttributes(container: any): Record<string, { from?: PodField; value?: string }> {
  const env: { name: string; value?: string; valueFrom?: any }[] = container?.env ?? [];
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
