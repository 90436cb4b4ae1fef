import { ConditionEvaluationError, conditionShape, ConditionSyntaxError, evaluateCondition, MeasurementPhase, measurementPhase, parseCondition, ResultComparison } from '../analysis/condition';
import { parseDurationSeconds } from '../util';
import { deriveTiming, formatDerivation, SeriesPath } from '../analysis/evidence';
import { ARGO_ERROR_RETRY_SECONDS, effectiveCount, MetricReadError, MetricSchedule, metricSpecProblems, simulateMetric } from '../analysis/schedule';
import { cannotBeEmpty, placeholderArgs, PromqlQuery, readPromql, SelectorUse, withoutComments } from '../analysis/promql';
import { CANARY_HASH_ARG, NAMESPACE_ARG, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { spanmetricsFlushSeconds, spanmetricsSeries } from '../platform/collector-config';
import { ImageFacts, ServedEndpoint } from '../platform/image-facts';
import { SPAN_KIND_SERVER } from '../platform/collector-config';
import { BUCKET_LABEL, SCRAPE_ANNOTATIONS } from '../platform/prometheus-naming';
import { LoadedManifest } from '../manifests';
import { analysisUses, declaredArgs, findTemplate, metricSchedule, metricSpecs, PrometheusMetric, prometheusMetrics, TEMPLATE_KINDS } from '../model/analyses';
import { defineRules, list } from './define';
import { asArr, asObj, asStr, DeliveryModel, objectPath } from '../model/model';
import { collectorsOf, componentType } from '../model/collectors';
import { seriesCatalog } from '../model/series';
import { checkSeriesForCanary, SERIES_NOT_FOR_CANARY } from './canary-series';
import { ObjectRef, Severity } from './types';

/** The span names of the endpoints users call, from an image's facts. */
function userSpanNamesOf(facts: ImageFacts | undefined): string[] {
  return (facts?.endpoints ?? []).filter((e) => e.caller === 'user').map((e) => e.spanName);
}

/**
 * A traffic gate query for fix hints, with the labels the setup's scrape gives: the app's own
 * request counter of its user endpoints (never its own /metrics scrapes) when its image's facts
 * name one, or a placeholder for the app's counter.
 */
function trafficGateExample(model: DeliveryModel, facts: ImageFacts | undefined): string {
  const canary = `${model.prometheus.namespaceLabel}="{{args.${NAMESPACE_ARG}}}", ${model.prometheus.podLabelAsSeriesLabel(ROLLOUTS_POD_TEMPLATE_HASH_LABEL)}="{{args.${CANARY_HASH_ARG}}}"`;
  const counter = facts?.metrics?.series.find((s) => s.spanNameLabel && s.failed);
  const users = userSpanNamesOf(facts);
  if (!counter || users.length === 0) return `sum(rate(YOUR_REQUESTS_TOTAL{${canary}}[2m])) with your app's request counter`;
  return `sum(rate(${counter.name}{${canary}, ${counter.spanNameLabel}=~"${users.join('|')}"}[2m]))`;
}

/** The PromQL functions that turn a counter into a request rate. */
const RATE_FUNCTIONS = ['rate', 'irate', 'increase'];

/** Functions that make up labels of their own, so grouping by any label may be right. */
const LABEL_MAKERS = ['label_replace', 'label_join'];

const QUERIES = new WeakMap<DeliveryModel, Map<string, PromqlQuery>>();

/** A query, read once per model. */
function readQuery(model: DeliveryModel, query: string): PromqlQuery {
  let cache = QUERIES.get(model);
  if (!cache) QUERIES.set(model, cache = new Map());
  let read = cache.get(query);
  if (!read) cache.set(query, read = readPromql(query));
  return read;
}

/** The comparisons of `result[0]` in a condition, or none when the condition cannot be read. */
function firstResultComparisons(condition: string | undefined): readonly ResultComparison[] {
  if (!condition) return [];
  try {
    return conditionShape(parseCondition(condition)).comparisons.filter((c) => c.index === 0);
  } catch {
    return []; // conditions/unreadable reports it
  }
}

/**
 * Whether a gate fails a canary that serves no traffic: it measures the requests of pods
 * selected by the canary (its pod-template hash, or the arguments the Rollout passes) and
 * either demands a rate above zero (a positive lower bound in successCondition, or a
 * failureCondition that trips below one), or reads an unguarded `result[0]` of a query that
 * is empty while nothing is served (an app without self-traffic), which Argo records as an
 * Error that stops the run.
 */
function failsIdleCanary(model: DeliveryModel, metric: PrometheusMetric, canaryArgs: readonly string[], scrapes: ScrapeSpans | undefined, unproduced: (name: string) => boolean): boolean {
  const query = readQuery(model, metric.query);
  // A series nothing produces is empty for a busy canary too: such a gate stops every canary, which says nothing about an idle one.
  const selectsCanary = (s: SelectorUse) => !(s.metric && unproduced(s.metric))
    && s.matchers.some((m) => (m.op === '=' || m.op === '=~') && placeholderArgs(m.value).some((a) => canaryArgs.includes(a)));
  // A condition that passes an empty result (`len(result) == 0 || ...`) passes an idle canary, whatever it bounds.
  if (passesEmpty(metric)) return false;
  const selectsCanaryRate = query.selectors.some((s) => s.enclosing.some((f) => RATE_FUNCTIONS.includes(f)) && selectsCanary(s));
  const lowerBound = firstResultComparisons(metric.successCondition).some((c) => (c.op === '>=' && c.value > 0) || (c.op === '>' && c.value >= 0));
  const failsLow = firstResultComparisons(metric.failureCondition).some((c) => (c.op === '<' && c.value > 0) || (c.op === '<=' && c.value >= 0));
  // An app that traces its own scrapes has request series while idle, unless the query leaves them out.
  const idleSeries = query.selectors.some((s) => selectsCanary(s) && countsScrapes(s, scrapes));
  // an empty result stops the run: Failed by the conditions (`len(result) == 0 || ...`), or an Error of an unguarded result[0]
  const emptyStops = [MeasurementPhase.FAILED, MeasurementPhase.ERROR].includes(measurementPhase(metric, []).phase);
  const stopsEmpty = !idleSeries && query.selectors.some(selectsCanary) && !cannotBeEmpty(metric.query) && emptyStops;
  return (selectsCanaryRate && (lowerBound || failsLow)) || stopsEmpty;
}

/** Whether a gate's conditions make an empty result Successful, on a query that can be empty. */
export function passesEmpty(metric: PrometheusMetric): boolean {
  // Only a condition that asks for the result's length or ranges over it can succeed without a sample:
  // any other reads result[i], an Error when there is none (a cheap test before an evaluation).
  const conditions = `${metric.successCondition ?? ''} ${metric.failureCondition ?? ''}`;
  if (!/\b(?:len|all|none|any|one|filter|count|map)\s*\(/.test(conditions)) return false;
  try {
    if (measurementPhase(metric, []).phase !== MeasurementPhase.SUCCESSFUL) return false;
  } catch {
    return false; // conditions/unreadable reports it
  }
  return !cannotBeEmpty(metric.query);
}

/** Container ports that serve Prometheus or the kubelet, not users: by name, or the port the scrape annotation names. */
const NON_SERVING_PORT = /metric|prom|health|probe|admin|debug|pprof/i;

/**
 * Whether a Rollout's pods serve requests, so an idle canary is a failure to detect: a Service
 * selects them, the Rollout routes traffic (trafficRouting, canaryService, stableService), or a
 * container declares a port that is not a metrics or health port. A queue worker judged on its
 * backlog has none of these.
 */
function servesRequests(model: DeliveryModel, rollout: LoadedManifest): boolean {
  const canary = asObj(asObj(asObj(rollout.object.spec).strategy).canary);
  if (canary.trafficRouting !== undefined || canary.canaryService !== undefined || canary.stableService !== undefined) return true;
  const pod = model.pods.find((p) => p.owner === rollout);
  if (!pod) return true;
  if (model.servicesSelecting(pod).length > 0) return true;
  const scrapePort = pod.annotations[SCRAPE_ANNOTATIONS.port];
  return pod.containers.some((c) => c.ports.some((p) => !NON_SERVING_PORT.test(p.name ?? '') && String(p.containerPort) !== scrapePort));
}

/** The facts the catalogue knows of the images a Rollout's containers run. */
function imageFactsOf(model: DeliveryModel, rollout: LoadedManifest): ImageFacts[] {
  return asArr(asObj(asObj(asObj(rollout.object.spec).template).spec).containers).map(asObj)
    .flatMap((c) => model.imageFacts(asStr(c.image) ?? '') ?? []);
}

/** The user endpoints of the apps that run a template, from their images' facts (for fix hints). */
function userEndpointsRunning(model: DeliveryModel, template: LoadedManifest): ServedEndpoint[] {
  const rollouts = analysisUses(model).filter((u) => u.templates.some((t) => findTemplate(model, u, t) === template)).map((u) => u.rollout);
  return rollouts.flatMap((r) => imageFactsOf(model, r)).flatMap((f) => (f.endpoints ?? []).filter((e) => e.caller === 'user'));
}

/**
 * The cause a gate's unguarded `result[i]` is: an empty result makes every measurement an Error,
 * which is also why such a gate stops a run before its data can exist.
 */
export function unguardedIndexCause(template: ObjectRef, metricName: string): string {
  return `unguarded-index:${objectPath(template)}:${metricName}`;
}

/**
 * When a gate ends the run if its query returns nothing from the first measurement on, and how:
 * the template's own conditions decide what an empty result is (Failed, Inconclusive, or an
 * Error for an unguarded `result[0]`) and the metric's limits when that ends it (simulated as
 * Argo Rollouts decides a metric); undefined when an empty result passes, or the conditions
 * cannot be read (conditions/unreadable reports them).
 */
function stopWithoutData(metric: PrometheusMetric, t: MetricSchedule): { atSeconds: number; how: string; fixField: string; byErrors?: true } | undefined {
  // a condition that does not compile for a vector at all errors with data too: not about missing data
  const compiles = (c: string) => {
    try {
      evaluateCondition(parseCondition(c), [1], c);
      return true;
    } catch (e) {
      return e instanceof ConditionEvaluationError && e.stage !== 'compile';
    }
  };
  if (![metric.successCondition, metric.failureCondition].every((c) => !c || compiles(c))) return undefined;
  let empty;
  try {
    empty = measurementPhase(metric, []);
  } catch (e) {
    if (e instanceof ConditionSyntaxError) return undefined; // what the model cannot evaluate it does not time
    throw e;
  }
  // a metric without a count that an empty result never ends runs until the run ends: look far enough to see any limit
  const horizon = effectiveCount(t) !== undefined ? Infinity
    : t.initialDelaySeconds + (t.consecutiveErrorLimit + t.failureLimit + t.inconclusiveLimit + 2) * Math.max(t.intervalSeconds, ARGO_ERROR_RETRY_SECONDS);
  const end = simulateMetric(t, () => empty.phase, horizon);
  if (!end || end.phase === MeasurementPhase.SUCCESSFUL) return undefined;
  if (!end.message) {
    return {
      atSeconds: end.atSeconds,
      how: `measurement ${effectiveCount(t)} completes count without ${t.consecutiveSuccessLimit} successes in a row, which makes it ${end.phase}`,
      fixField: 'initialDelay + (count - 1) x interval',
    };
  }
  switch (end.phase) {
    case MeasurementPhase.FAILED:
      return {
        atSeconds: end.atSeconds,
        how: `failed measurement ${t.failureLimit + 1}: initialDelay ${t.initialDelaySeconds}s + failureLimit ${t.failureLimit} x interval ${t.intervalSeconds}s`,
        fixField: 'initialDelay + failureLimit x interval',
      };
    case MeasurementPhase.INCONCLUSIVE:
      return {
        atSeconds: end.atSeconds,
        how: `inconclusive measurement ${t.inconclusiveLimit + 1}, which pauses the rollout: initialDelay ${t.initialDelaySeconds}s + inconclusiveLimit ${t.inconclusiveLimit} x interval ${t.intervalSeconds}s`,
        fixField: 'initialDelay + inconclusiveLimit x interval',
      };
    default:
      return {
        atSeconds: end.atSeconds,
        how: `error ${t.consecutiveErrorLimit + 1} in a row: initialDelay ${t.initialDelaySeconds}s + consecutiveErrorLimit ${t.consecutiveErrorLimit} x ${ARGO_ERROR_RETRY_SECONDS}s retries`,
        fixField: `initialDelay + consecutiveErrorLimit x ${ARGO_ERROR_RETRY_SECONDS}s`,
        byErrors: true,
      };
  }
}

/** Metric names whose producer is in the manifests: every series a known image in them serves, scraped or not. */
function judgedMetrics(model: DeliveryModel): Set<string> {
  const out = new Set<string>();
  for (const pod of model.pods) for (const c of pod.containers) for (const s of model.imageFacts(c.image)?.metrics?.series ?? []) out.add(s.name);
  return out;
}

/** The name prefixes of the spanmetrics connectors in the manifests (`traces_span_metrics_`), exported or not. */
function judgedPrefixes(model: DeliveryModel): string[] {
  return collectorsOf(model).flatMap((c) => c.config.ids('connectors').filter((id) => componentType(id) === 'spanmetrics')
    .map((id) => spanmetricsSeries(c.config.configOf('connectors', id)).calls.replace(/calls_total$/, '')));
}

/** How a Rollout's app shows Prometheus's scrapes in its series, when it traces them. */
interface ScrapeSpans {
  /** the span name of a scrape */
  readonly spanName: string;
  /** the span names users call, for fix hints */
  readonly userSpanNames: readonly string[];
  /** the series that count spans, with the label that carries the span name: the app's counters and spanmetrics' calls and histograms */
  readonly spanNameLabels: ReadonlyMap<string, string>;
}

const SPANMETRICS_SPAN_NAME_LABELS = new WeakMap<DeliveryModel, ReadonlyMap<string, string>>();

/** The spanmetrics series that count spans, with the label carrying the span name; once per model. */
function spanmetricsSpanNameLabels(model: DeliveryModel): ReadonlyMap<string, string> {
  let labels = SPANMETRICS_SPAN_NAME_LABELS.get(model);
  if (!labels) {
    const out = new Map<string, string>();
    for (const collector of collectorsOf(model)) {
      for (const { series } of collector.exportedSpanmetrics()) {
        for (const name of [series.calls, series.durationCount, series.durationBucket]) out.set(name, series.intrinsicLabels[1]);
      }
    }
    SPANMETRICS_SPAN_NAME_LABELS.set(model, labels = out);
  }
  return labels;
}

/** The scrape spans of a Rollout's app (from the facts of its image), or undefined when it does not trace its scrapes. */
function scrapeSpansOf(model: DeliveryModel, rollout: LoadedManifest): ScrapeSpans | undefined {
  const facts = imageFactsOf(model, rollout).find((f) => f.scrapeSpanName);
  if (!facts) return undefined;
  const spanNameLabels = new Map(spanmetricsSpanNameLabels(model));
  for (const s of facts.metrics?.series ?? []) if (s.spanNameLabel) spanNameLabels.set(s.name, s.spanNameLabel);
  return { spanName: facts.scrapeSpanName!, userSpanNames: userSpanNamesOf(facts), spanNameLabels };
}

/** Whether a selector counts the app's scrape spans: it reads a span-counting series and no matcher on the span name leaves them out. */
function countsScrapes(sel: SelectorUse, scrapes: ScrapeSpans | undefined): boolean {
  const label = scrapes && sel.metric ? scrapes.spanNameLabels.get(sel.metric) : undefined;
  return !!label && !excludes(sel, { label, value: scrapes!.spanName });
}

/** Whether a selector's matchers leave out the series with `label="value"`. */
function excludes(sel: SelectorUse, counts: { label: string; value: string }): boolean {
  return sel.matchers.filter((m) => m.label === counts.label || m.label === `exported_${counts.label}`).some((m) => {
    const full = (re: string) => {
      try {
        return new RegExp(`^(?:${re})$`).test(counts.value);
      } catch {
        return true; // unreadable: do not claim it excludes
      }
    };
    switch (m.op) {
      case '=': return m.value !== counts.value;
      case '!=': return m.value === counts.value;
      case '=~': return !full(m.value);
      case '!~': return full(m.value);
      default: return false;
    }
  });
}

/** The seconds of the first range `[...]` after a selector's offset in a query (`[2m]`, `[190s]`). */
function rangeSecondsAt(query: string, offset: number): number | undefined {
  const m = /^[^[\]]*?\[\s*([0-9smhdw]+)\s*\]/.exec(withoutComments(query).slice(offset));
  if (!m) return undefined;
  try {
    return parseDurationSeconds(m[1]);
  } catch {
    return undefined;
  }
}

function num(n: number): string {
  return Number(n.toPrecision(3)).toString();
}

/** `line 2, column 5` of a query. */
function position(query: string, offset: number): string {
  const before = query.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/**
 * Gate queries: they parse with Prometheus's grammar, use only declared arguments, name only
 * series and labels the manifests put into Prometheus, and a canary's analysis includes a
 * gate that an idle canary fails.
 */
export const GATE_RULES = defineRules({
  'gates/promql-syntax': 'every gate query parses with the PromQL grammar (@prometheus-io/lezer-promql)',
  'gates/unknown-arg': 'every {{args.x}} in a query is an argument the template declares',
  'gates/unknown-metric': 'every metric a query names whose producer is in the manifests (a spanmetrics connector, a known image) is produced and scraped; with --strict-metrics, every metric',
  'gates/unchecked-metric': 'metrics whose producer is outside the manifests (kube_*, istio_*, ...) are listed once as not checked (info)',
  'gates/unknown-label': 'every label a query matches or groups by is on the series it selects',
  [SERIES_NOT_FOR_CANARY]: "a gate that selects the Rollout's namespace reads a series produced for pods of that namespace (an app counter its pods serve, spanmetrics of spans its pods export), and a literal service_name one of them exports",
  'gates/no-idle-canary-gate': "a canary's analysis has a gate that fails an idle canary (a lower bound on the canary's request rate)",
  'gates/judged-before-data': 'a gate cannot stop a canary on missing data before its series could have reached Prometheus: discovery and two scrapes of a new pod, or two spanmetrics flushes and a scrape (warning)',
  'gates/self-traffic': "a canary's traffic gate on a counter that also counts Prometheus's scrapes (HotROD's) excludes them, or asks for more than the scrapes alone give at the setup's scrape interval",
  'gates/latency-over-all-spans': 'a latency gate on spanmetrics reads the service\'s own served requests (span_kind and span_name or service_name), not every span of every service (warning)',
  'gates/invalid-metric-spec': "every metric of an analysis template passes Argo Rollouts' own spec validation (limits not negative, failureLimit -1 only with a consecutiveSuccessLimit, count leaving room for the limits, an interval when count > 1, Go durations, one provider, distinct names); otherwise every AnalysisRun of it is Error at once",
}, (model, report, options) => {
  const E = Severity.ERROR;
  const catalog = seriesCatalog(model);
  const produced = [...catalog.series.keys()].sort();
  const why = catalog.unscraped.length > 0 ? `; not scraped: ${catalog.unscraped.join('; ')}` : '';
  const judged = judgedMetrics(model);
  const unchecked = new Map<string, { ref: ObjectRef; gates: Set<string> }>();

  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    const ref = model.refOf(template);
    const declared = declaredArgs(template).map((a) => a.name);
    for (const metric of prometheusMetrics(template)) {
      const gate = `gate '${metric.name}'`;
      const query = readQuery(model, metric.query);
      for (const arg of new Set(query.args.filter((a) => !declared.includes(a)))) {
        report('gates/unknown-arg', E, ref, `${gate} uses {{args.${arg}}}, but the template declares only ${list(declared)}; the AnalysisRun fails to resolve it`,
          `declare '${arg}' in spec.args (and pass it from the Rollout) or use one of ${list(declared)}`,
          { causes: [`template-args:${ref.namespace}/${ref.name}`] });
      }
      if (query.error) {
        report('gates/promql-syntax', E, ref, `${gate}: the query does not parse as PromQL at ${position(metric.query, query.error.offset)} (near '${query.error.near}')`,
          'fix the PromQL at that position (unbalanced parentheses or braces, a missing range, a stray comma are common); try it in the Prometheus UI');
        continue;
      }
      for (const s of query.selectors) {
        if (s.metric === undefined) continue;
        const series = catalog.series.get(s.metric);
        if (!series && !options.strictMetrics && !judged.has(s.metric) && !judgedPrefixes(model).some((p) => s.metric!.startsWith(p))) {
          const entry = unchecked.get(s.metric) ?? { ref, gates: new Set<string>() };
          entry.gates.add(`${ref.namespace}/${ref.name} '${metric.name}'`);
          unchecked.set(s.metric, entry);
          continue;
        }
        if (!series) {
          // spanmetrics of a connector whose series never reach Prometheus: the collector's finding is the cause
          const from = collectorsOf(model).filter((c) => c.config.ids('connectors').some((id) => componentType(id) === 'spanmetrics'
            && s.metric!.startsWith(spanmetricsSeries(c.config.configOf('connectors', id)).calls.replace(/calls_total$/, ''))));
          // one metric nothing produces, read in several places, is one root cause
          const root = `unknown-metric:${ref.namespace}/${ref.name}:${s.metric}`;
          report('gates/unknown-metric', E, ref, `${gate} selects '${s.metric}' (${position(metric.query, s.offset)}), which nothing in the manifests puts into Prometheus; produced: ${list(produced)}${why}`,
            'use a produced series name, or make its producer export it and get scraped (spanmetrics connector -> metrics pipeline -> prometheus exporter on the scraped port)',
            { causes: [root], causedBy: [...from.flatMap((c) => [c.causeKey('spanmetrics-export'), c.causeKey('prometheus-export')]), root] });
          continue;
        }
        if (series.openLabels) continue;
        for (const m of s.matchers.filter((x) => x.value !== '' && !series.labels.has(x.label))) {
          const root = `unknown-label:${ref.namespace}/${ref.name}:${s.metric}:${m.label}`;
          report('gates/unknown-label', E, ref, `${gate} matches label '${m.label}' on '${s.metric}', which never carries it (labels: ${list([...series.labels].sort())}); the selector matches nothing`,
            `use one of those labels, or make its source emit it (${list(series.sources)}; for spanmetrics: a dimension)`, { causes: [root], causedBy: [root] });
        }
      }
      for (const g of query.groupings) {
        const judged = (s: SelectorUse) => !!s.metric && catalog.series.has(s.metric) && !catalog.series.get(s.metric)!.openLabels && !s.enclosing.some((f) => LABEL_MAKERS.includes(f));
        if (g.selectors.length === 0 || !g.selectors.every(judged)) continue;
        const labels = new Set(g.selectors.flatMap((s) => [...catalog.series.get(s.metric!)!.labels]));
        for (const label of g.labels.filter((l) => !labels.has(l))) {
          report('gates/unknown-label', E, ref, `${gate} groups by '${label}', which none of ${list([...new Set(g.selectors.map((s) => s.metric!))])} carries (labels: ${list([...labels].sort())})`,
            'group by a label those series carry');
        }
      }
    }
  }

  checkSeriesForCanary(model, catalog, (query) => readQuery(model, query), report);

  if (unchecked.size > 0) {
    const names = [...unchecked.keys()].sort();
    report('gates/unchecked-metric', Severity.INFO, unchecked.get(names[0])!.ref,
      `not checked: ${names.map((n) => `'${n}' (gates ${list(unchecked.get(n)!.gates)})`).join(', ')}; their producers (exporters, meshes, ingress controllers) are not in these manifests, so their names and labels cannot be judged here`,
      'add the producer\'s manifests to the folder, or pass --strict-metrics to treat every metric nothing here produces as an error');
  }

  // Argo Rollouts validates a run's metrics before it measures (utils/analysis/factory.go
  // ValidateMetrics @ v1.8.3); a template that fails makes every AnalysisRun of it Error at once.
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    const ref = model.refOf(template);
    // a metric with an argument in a checked field is known only when the run starts: skipped
    const specs = metricSpecs(template).map((s) => (s instanceof MetricReadError ? undefined : s));
    for (const p of metricSpecProblems(specs)) {
      const what = p.index === undefined ? 'the template' : `metric '${p.metric}' (metrics[${p.index}], field ${p.field})`;
      report('gates/invalid-metric-spec', E, ref, `${what}: ${p.reason}; Argo Rollouts refuses the spec: every AnalysisRun of this template is Error before it measures, and the rollout is aborted`, p.fix);
    }
  }

  // A new canary's series are late: a pod must be discovered and scraped twice, spanmetrics must
  // be flushed twice and scraped. A gate that stops the run on no data before then stops healthy canaries.
  const flushSeconds = new Map<string, number>();
  for (const collector of collectorsOf(model)) {
    for (const exported of collector.exportedSpanmetrics()) {
      const seconds = spanmetricsFlushSeconds(collector.config.configOf('connectors', exported.connectorId));
      const s = exported.series;
      for (const name of [s.calls, s.durationBucket, s.durationSum, s.durationCount]) flushSeconds.set(name, Math.max(seconds, flushSeconds.get(name) ?? 0));
    }
  }
  const appMetrics = new Set([...catalog.series.keys()].filter((name) => !flushSeconds.has(name)));
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    for (const metric of prometheusMetrics(template)) {
      const query = readQuery(model, metric.query);
      const timing = metricSchedule(template, metric.name);
      if (!timing || query.error) continue;
      const flush = Math.max(0, ...query.selectors.map((s) => (s.metric && flushSeconds.get(s.metric)) || 0));
      const path = flush > 0 ? SeriesPath.SPANMETRICS : query.selectors.some((s) => s.metric && appMetrics.has(s.metric)) ? SeriesPath.POD_SCRAPE : undefined;
      if (!path) continue;
      // The apps' export delay is not in the manifests: without it the time is a lower bound.
      const firstData = deriveTiming(path, { backend: model.prometheus, flushSeconds: flush, exportDelaySeconds: 0 }, 0);
      const noData = stopWithoutData(metric, timing);
      if (!noData || noData.atSeconds >= firstData.totalSeconds) continue;
      report('gates/judged-before-data', Severity.WARNING, model.refOf(template),
        `gate '${metric.name}' can stop a healthy canary for lack of data: with none it stops the run at ${noData.atSeconds}s; ${noData.how}; `
        + `it reads ${path === SeriesPath.SPANMETRICS ? `spanmetrics flushed every ${flush}s` : 'metrics scraped from the canary\'s own pods'}, so a new canary's `
        + `series can be missing (or too short for increase() or rate()) until ${formatDerivation(firstData)} with ${model.prometheus.name}`,
        `make ${noData.fixField} at least ${Math.ceil(firstData.totalSeconds)}s, plus the time the canary needs to serve the evidence `
        + '(ThreeGateAnalysis derives it), or shorten the flush or scrape interval',
        // errors on no data come from a condition that reads result[i] unguarded, when it does
        noData.byErrors ? { causedBy: [unguardedIndexCause(model.refOf(template), metric.name)] } : undefined);
    }
  }

  // Prometheus's own scrapes of an app that traces them look like traffic: at a 10 s scrape,
  // 0.1 req/s per pod, enough for an idle canary to pass a 0.05 req/s gate.
  for (const use of analysisUses(model).filter((u) => u.canary)) {
    const scrapes = scrapeSpansOf(model, use.rollout);
    if (!scrapes) continue;
    for (const t of use.templates) {
      const template = findTemplate(model, use, t);
      if (!template) continue;
      for (const metric of prometheusMetrics(template)) {
        const query = readQuery(model, metric.query);
        if (query.error) continue;
        const floor = firstResultComparisons(metric.successCondition).filter((c) => c.op === '>=' || c.op === '>').map((c) => c.value);
        if (floor.length === 0) continue;
        const schedule = metricSchedule(template, metric.name);
        for (const sel of query.selectors) {
          if (!countsScrapes(sel, scrapes)) continue;
          const fn = sel.enclosing.find((f) => RATE_FUNCTIONS.includes(f));
          const scrape = model.prometheus.scrapeSeconds;
          const window = fn === 'increase' ? rangeSecondsAt(metric.query, sel.offset) : undefined;
          if (fn === 'increase' && window === undefined) continue;
          // the raw counter: every scrape since the canary started, by the gate's last measurement
          const count = schedule && effectiveCount(schedule);
          const lastLook = schedule && count !== undefined ? schedule.initialDelaySeconds + (count - 1) * schedule.intervalSeconds : undefined;
          if (!fn && (lastLook === undefined || sel.enclosing.some((f) => !['sum', 'max', 'min', 'avg'].includes(f)))) continue;
          // per canary pod: one scrape per interval, as a rate, a count over the window, or a count since it started
          const selfTraffic = fn === 'increase' ? window! / scrape : fn ? 1 / scrape : lastLook! / scrape;
          const needed = Math.max(...floor);
          if (needed > selfTraffic) continue;
          const label = scrapes.spanNameLabels.get(sel.metric!)!;
          const given = fn === 'increase' ? ` requests in ${window}s` : fn ? ' req/s' : ` requests by the gate's last measurement at ${lastLook}s`;
          report('gates/self-traffic', E, model.refOf(template),
            `gate '${metric.name}' counts ${sel.metric} of the canary, which also counts Prometheus's own scrapes (${label}="${scrapes.spanName}"): `
            + `with ${model.prometheus.name}'s ${scrape}s scrape they alone give ${num(selfTraffic)}${given}, `
            + `at least the ${num(needed)} the gate asks for, so an idle canary passes it`,
            `exclude the scrapes: select the endpoints users call${scrapes.userSpanNames.length > 0 ? `, e.g. ${label}=~"${scrapes.userSpanNames.join('|')}"` : ''}, or ${label}!="${scrapes.spanName}"`);
        }
      }
    }
  }

  // A latency quantile over every span mixes the service's own answers with internal and client
  // spans (HotROD: a dozen fast internal calls per /dispatch) and hides a slow endpoint.
  const durationBuckets = new Map<string, readonly string[]>();
  for (const collector of collectorsOf(model)) {
    for (const exported of collector.exportedSpanmetrics()) durationBuckets.set(exported.series.durationBucket, exported.series.intrinsicLabels);
  }
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    for (const metric of prometheusMetrics(template)) {
      const query = readQuery(model, metric.query);
      if (query.error) continue;
      // a quantile of the histogram, or a share of it below a bound (`le`)
      const readsLatency = (x: SelectorUse) => x.enclosing.includes('histogram_quantile') || x.matchers.some((m) => m.label === BUCKET_LABEL);
      for (const sel of query.selectors.filter((x) => x.metric && durationBuckets.has(x.metric) && readsLatency(x))) {
        const userSpans = userEndpointsRunning(model, template);
        const [serviceLabel, spanNameLabel, spanKindLabel] = durationBuckets.get(sel.metric!)!;
        const names = new Set(sel.matchers.filter((m) => m.op === '=' || m.op === '=~').map((m) => m.label.replace(/^exported_/, '')));
        const kind = names.has(spanKindLabel);
        const which = names.has(spanNameLabel) || names.has(serviceLabel);
        if (kind && which) continue;
        report('gates/latency-over-all-spans', Severity.WARNING, model.refOf(template),
          `gate '${metric.name}' takes a quantile of ${sel.metric} without ${[kind ? '' : spanKindLabel, which ? '' : `${spanNameLabel} or ${serviceLabel}`].filter((x) => x).join(' and ')}: `
          + 'it mixes the canary\'s answers to its users with its internal and client spans, so a slow endpoint hides among fast internal calls',
          `select the served requests users see, e.g. ${spanKindLabel}="${SPAN_KIND_SERVER}", `
          + (userSpans.length > 0
            ? `${serviceLabel}="${userSpans[0].service}", ${spanNameLabel}=~"${userSpans.map((e) => e.spanName).join('|')}" (the user endpoints of the app that runs it)`
            : `${serviceLabel}="YOUR_SERVICE", ${spanNameLabel}=~"GET /your-route" with the routes users call`));
      }
    }
  }

  // An idle canary passes every gate that only bounds errors or latency: nothing measured, nothing wrong.
  const byRollout = new Map<LoadedManifest, { templates: LoadedManifest[]; passes: boolean; unreadable: boolean; prometheus: boolean }>();
  const prefixes = judgedPrefixes(model);
  const unproduced = (name: string) => !catalog.series.has(name) && (judged.has(name) || prefixes.some((p) => name.startsWith(p)));
  for (const use of analysisUses(model).filter((u) => u.canary && servesRequests(model, u.rollout))) {
    const entry = byRollout.get(use.rollout) ?? { templates: [], passes: false, unreadable: false, prometheus: false };
    byRollout.set(use.rollout, entry);
    const hashArgs = use.args.filter((a) => a.valueFrom?.podTemplateHashValue === 'Latest').map((a) => a.name);
    // Without a hash argument, the canary is selected by what the Rollout passes literally (its canary Service, a label value).
    const canaryArgs = hashArgs.length > 0 ? hashArgs : use.args.filter((a) => a.value !== undefined).map((a) => a.name);
    const scrapes = scrapeSpansOf(model, use.rollout);
    for (const t of use.templates) {
      const template = findTemplate(model, use, t);
      if (!template) continue; // rollout/unknown-template
      if (!entry.templates.includes(template)) entry.templates.push(template);
      const metrics = prometheusMetrics(template);
      if (metrics.length > 0) entry.prometheus = true;
      // A gate that does not parse is reported by gates/promql-syntax; what it would have measured is unknown.
      if (metrics.some((m) => readQuery(model, m.query).error)) entry.unreadable = true;
      if (metrics.some((m) => failsIdleCanary(model, m, canaryArgs, scrapes, unproduced))) entry.passes = true;
    }
  }
  for (const [rollout, { templates, passes, unreadable, prometheus }] of byRollout) {
    if (passes || unreadable || !prometheus || templates.length === 0) continue;
    const names = templates.map((t) => t.object.metadata?.name ?? '');
    const example = trafficGateExample(model, imageFactsOf(model, rollout).find((f) => f.metrics));
    const passing = templates.flatMap((t) => prometheusMetrics(t).filter(passesEmpty).map((m) => `'${m.name}'`));
    const missing = templates.flatMap((t) => prometheusMetrics(t).filter((m) => readQuery(model, m.query).selectors.some((s) => s.metric && unproduced(s.metric))).map((m) => `'${m.name}'`));
    report('gates/no-idle-canary-gate', E, model.refOf(templates[0]),
      `Rollout ${model.namespaceOf(rollout)}/${rollout.object.metadata?.name} runs ${list(names)} on its canary, but no gate fails a canary that serves no traffic, so an idle canary is promoted; `
      + 'none bounds from below the rate() of requests selected by the canary, nor stops on an empty result'
      + (passing.length > 0 ? `; ${list(passing)} pass${passing.length === 1 ? 'es' : ''} an empty result` : '')
      + (missing.length > 0 ? `; ${list(missing)} read${missing.length === 1 ? 's' : ''} a series nothing produces, which stops busy canaries as well` : ''),
      `add a traffic gate, e.g. query ${example} with successCondition 'len(result) > 0 && result[0] >= MIN_RPS', `
      + `and pass ${CANARY_HASH_ARG} with valueFrom.podTemplateHashValue: Latest`,
      // an argument the Rollout does not pass (a renamed one) leaves the traffic gate without the canary's hash: that finding is the cause
      { causes: templates.map((t) => `idle-canary:${model.namespaceOf(t)}/${t.object.metadata?.name ?? ''}`), causedBy: [`rollout-args:${model.namespaceOf(rollout)}/${rollout.object.metadata?.name ?? ''}`] });
  }
});
