import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { SeriesPath } from '../analysis/evidence';
import { arg, CANARY_HASH_ARG, NAMESPACE_ARG, STABLE_HASH_ARG } from '../platform/argo';
import { PROMETHEUS_OPERATOR_GROUP, PrometheusBackend, RuleDelivery } from '../platform/metrics-backend';
import { BUCKET_LABEL, bucketBoundValues } from '../platform/prometheus-naming';
import { AlertSeverity, PrometheusRuleGroup, resolveSlos, Slo, SloKind, SLO_LABELS, SloObjectives, sloRuleGroups } from '../platform/slo';
import { selector } from './canary-analysis';
import { CanaryRequests, ISpanmetricsPipeline, Matchers } from './interfaces';

/**
 * Matchers of a gate's series for all of a service's pods rather than its canary: the namespace
 * argument becomes `namespace`, and the matchers on a pod-template hash are dropped (or, with
 * `hashTo`, their label is reported there, for a `by` clause).
 */
export function serviceMatchers(matchers: Matchers, namespace: string, hashTo?: (label: string) => void): Matchers {
  const hashes = [arg(CANARY_HASH_ARG), arg(STABLE_HASH_ARG)];
  const out: Record<string, string | readonly string[]> = {};
  for (const [label, value] of Object.entries(matchers)) {
    if (typeof value === 'string' && hashes.includes(value)) {
      hashTo?.(label);
      continue;
    }
    out[label] = value === arg(NAMESPACE_ARG) ? namespace : value;
  }
  return out;
}

/** What a service's alerts read: its gates' series (a CanaryRollout). */
export interface ISloTarget {
  /** the rollout's name */
  readonly name: string;
  /** the namespace it runs in */
  readonly namespace: string;
  readonly prometheus: PrometheusBackend;
  readonly pipeline: ISpanmetricsPipeline;
  /** the series the gates count the canary's user requests in */
  readonly requests: CanaryRequests;
  /** the matchers of the canary's user request spans in the spanmetrics series */
  readonly canarySpans: Matchers;
}

/** The selectors of a service's user requests, for all its pods (the gates' with the canary's hash dropped). */
export interface ServiceSeries {
  /** every user request */
  readonly requests: string;
  /** the failed ones */
  readonly failedRequests: string;
  /** the spanmetrics calls of its user request spans */
  readonly spanCalls: string;
  /** the spanmetrics duration buckets of its user request spans at a bound (in the histogram's unit) */
  fastSpans(bound: number): string;
  /** the spanmetrics duration count of its user request spans */
  readonly spanCount: string;
  /** the matchers behind the selectors: of the requests (and the further ones of the failed), of the spans */
  readonly matchers: { readonly requests: Matchers; readonly failed: Readonly<Record<string, string>>; readonly spans: Matchers };
}

/** The selectors of a target's user requests in `namespace` (a namespace, or a Grafana variable such as `$service`). */
export function serviceSeries(target: ISloTarget, namespace: string): ServiceSeries {
  const req = target.requests;
  const m = serviceMatchers(req.matchers, namespace);
  const spans = serviceMatchers(target.canarySpans, namespace);
  const s = target.pipeline.series;
  return {
    requests: selector(req.metric, m),
    failedRequests: selector(req.metric, { ...m, ...req.failed }),
    spanCalls: selector(s.calls, spans),
    fastSpans: (bound) => selector(s.durationBucket, { ...spans, [BUCKET_LABEL]: bucketBoundValues(bound) }),
    spanCount: selector(s.durationCount, spans),
    matchers: { requests: m, failed: req.failed, spans },
  };
}

/** Properties of {@link SloAlerts}. */
export interface SloAlertsProps {
  /** the service whose gates' series the alerts read (a CanaryRollout) */
  readonly target: ISloTarget;
  /** the objectives as stated; the rest are derived from the gates */
  readonly objectives?: SloObjectives;
  /** the thresholds of the service's gates, which the objectives default to */
  readonly gates: { readonly maxErrorRatio: number; readonly maxP95: Duration; readonly quantile: number };
  /** the labels every alert carries: the environment and the team (or tenant) */
  readonly labels: Readonly<Record<string, string>>;
  /** how long a telemetry alert waits before it fires @default Duration.minutes(10) */
  readonly telemetryFor?: Duration;
}

/**
 * A service's alerts, from its gates' series: multiwindow, multi-burn-rate alerts for an
 * availability and a latency SLO (recording rules for each error ratio), and alerts for its
 * telemetry going silent (its request series gone; spanmetrics missing while it serves). They reach
 * Prometheus as its {@link PrometheusBackend.ruleDelivery} says: a `PrometheusRule` beside the
 * service, labelled for the Prometheus's rule selector, or the rule groups (`groups`) a chart's
 * values file takes.
 */
export class SloAlerts extends Construct {
  /** the objectives, resolved */
  public readonly slos: readonly Slo[];
  /** the rule groups */
  public readonly groups: readonly PrometheusRuleGroup[];
  /** the PrometheusRule, when the Prometheus takes rules as objects */
  public readonly resource?: ApiObject;
  /** the selectors the rules read */
  public readonly series: ServiceSeries;

  constructor(scope: Construct, id: string, props: SloAlertsProps) {
    super(scope, id);
    const t = props.target;
    this.slos = resolveSlos(`SloAlerts '${t.name}'`, props.objectives ?? {}, props.gates);
    // a latency SLO counts requests slower than its bound exactly: the bound must be a bucket bound
    for (const slo of this.slos) if (slo.latencyThresholdMs !== undefined) t.pipeline.requireBucketBound(Duration.millis(slo.latencyThresholdMs));
    this.series = serviceSeries(t, t.namespace);
    const s = this.series;
    const ratio = (kind: SloKind, window: string): string => {
      if (kind === SloKind.AVAILABILITY) return `(sum(rate(${s.failedRequests}[${window}])) or vector(0))\n/\nsum(rate(${s.requests}[${window}]))`;
      const bound = t.pipeline.inHistogramUnit(Duration.millis(this.slos.find((x) => x.kind === SloKind.LATENCY)!.latencyThresholdMs!));
      return `1 - (\n  sum(rate(${s.fastSpans(bound)}[${window}]))\n  /\n  sum(rate(${s.spanCount}[${window}]))\n)`;
    };
    const labels = { ...props.labels, [SLO_LABELS.service]: t.name, [SLO_LABELS.namespace]: t.namespace, [SLO_LABELS.severity]: AlertSeverity.TICKET };
    const wait = `${(props.telemetryFor ?? Duration.minutes(10)).toMinutes()}m`;
    const telemetry = {
      name: `telemetry-${t.name}`,
      rules: [
        {
          alert: 'ServiceRequestSeriesAbsent',
          expr: `absent(${s.requests})`,
          for: wait,
          labels,
          annotations: {
            summary: `${t.name}: no series of its user requests in Prometheus`,
            description: `The series the canary gates and the SLO alerts of ${t.name} read are gone: the service is down, unscraped, or its telemetry changed names. Every gate of its next canary would see an idle canary, and its SLO alerts are blind.`,
          },
        },
        ...(t.requests.path === SeriesPath.POD_SCRAPE ? [{
          alert: 'SpanmetricsMissing',
          expr: `sum(rate(${s.requests}[5m])) > 0\nunless on()\nsum(rate(${s.spanCalls}[5m])) > 0`,
          for: wait,
          labels,
          annotations: {
            summary: `${t.name} serves requests, but no spanmetrics of its spans arrive`,
            description: 'The collector exports no spanmetrics for this service while it serves: its latency gate and latency SLO see nothing (the spans do not reach the collector, or its metrics pipeline or exporter broke).',
          },
        }] : []),
      ],
    };
    this.groups = [...sloRuleGroups({ service: t.name, namespace: t.namespace, slos: this.slos, ratio, labels: props.labels }), telemetry];
    if (t.prometheus.ruleDelivery === RuleDelivery.PROMETHEUS_RULE) {
      this.resource = prometheusRule(this, `${t.name}-slo`, t.prometheus, this.groups);
    }
  }
}

/** Makes a PrometheusRule of rule groups, labelled for the Prometheus's rule selector. */
export function prometheusRule(scope: Construct, name: string, prometheus: PrometheusBackend, groups: readonly PrometheusRuleGroup[]): ApiObject {
  return new ApiObject(scope, 'Resource', {
    apiVersion: `${PROMETHEUS_OPERATOR_GROUP}/v1`,
    kind: 'PrometheusRule',
    metadata: { name, labels: { ...prometheus.ruleLabels } },
    spec: { groups: groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r })) })) },
  });
}

/** Properties of {@link CollectorAlerts}. */
export interface CollectorAlertsProps {
  readonly prometheus: PrometheusBackend;
  /** the collector's namespace and the workload name its pods are scraped under */
  readonly namespace: string;
  readonly workload: string;
  /** the labels every alert carries: the environment and the team (or tenant) */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Alerts for the collector itself: a collector pod Prometheus fails to scrape, or none scraped at
 * all; without them the gates of every canary (and every spanmetrics SLO) go blind silently.
 */
export class CollectorAlerts extends Construct {
  public readonly groups: readonly PrometheusRuleGroup[];
  public readonly resource?: ApiObject;

  constructor(scope: Construct, id: string, props: CollectorAlertsProps) {
    super(scope, id);
    const p = props.prometheus;
    const up = `up{job="${p.jobOf(props.namespace, props.workload)}", ${p.namespaceLabel}="${props.namespace}"}`;
    const labels = { ...props.labels, [SLO_LABELS.service]: props.workload, [SLO_LABELS.namespace]: props.namespace, [SLO_LABELS.severity]: AlertSeverity.TICKET };
    this.groups = [{
      name: `telemetry-${props.workload}`,
      rules: [
        {
          alert: 'CollectorTargetDown',
          expr: `${up} == 0`,
          for: '5m',
          labels,
          annotations: {
            summary: 'a collector pod is not scraped: {{ $labels.pod }}',
            description: 'Prometheus fails to scrape this collector pod: the spanmetrics of the spans it receives are missing, so the latency gates of canaries on its node, and spanmetrics SLOs, judge on partial data.',
          },
        },
        {
          alert: 'CollectorTargetsAbsent',
          expr: `absent(${up})`,
          for: '10m',
          labels,
          annotations: {
            summary: 'no collector pod is a scrape target',
            description: 'Prometheus has no collector target: no spanmetrics at all, so every spanmetrics gate and SLO is blind.',
          },
        },
      ],
    }];
    if (p.ruleDelivery === RuleDelivery.PROMETHEUS_RULE) this.resource = prometheusRule(this, `${props.workload}-telemetry`, p, this.groups);
  }
}
