import { readPromql } from '../analysis/promql';
import { SpanmetricsSeries } from '../platform/collector-config';
import { ResultComparison } from '../analysis/condition';
import { MetricSchedule } from '../analysis/schedule';
import { GateDesign, GateKind } from '../model/gates';
import { AnalysisArgument } from '../platform/argo';
import { DEFAULT_METHOD, HealthyProfile, servesUrl, ServedEndpoint } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';

/**
 * What a rehearsal needs to know about one rollout, as plain data: the gates exactly as the
 * AnalysisTemplate has them, where the canary's requests are counted, every server span the
 * service emits, and every metric and label name the series must carry. It is built from the
 * model of a delivery (lib/model), whether that was read from a folder or from the objects the
 * constructs just synthesized (`targetsFromModel`); the rest of the rehearsal only reads this.
 */
export interface RehearsalTarget {
  /** where the target was read from, for messages */
  readonly source: string;
  /** the rollout the results are for, `namespace/name` */
  readonly rollout: string;
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
  /** the user endpoints, the share of user requests each gets (from the traffic generator's paths), and the internal spans each causes */
  readonly userMix: readonly UserShare[];
  /** the server span of Prometheus's scrapes of the pods, when the pods are scraped and the app traces its scrapes */
  readonly scrapeSpan?: ServedEndpoint;
  /** the rollout's name, container and pod labels, and the container port its metrics are scraped on, if they are */
  readonly workload: {
    readonly name: string;
    readonly container: string;
    /** the pod labels of the rollout's template (without the pod-template hash) */
    readonly podLabels: Readonly<Record<string, string>>;
    /** the pod label Argo Rollouts sets to the ReplicaSet's hash */
    readonly hashPodLabel: string;
    /** where Prometheus scrapes the pods @default - the pods are not scraped */
    readonly metricsPort?: { readonly name: string; readonly number: number };
  };
  /** where the canary's user requests are counted: the service's own counter, or only the spanmetrics of its server spans */
  readonly requests: RequestSeries;
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
  /** how the service behaves when healthy, when it says (its image's facts) */
  readonly healthy?: HealthyProfile;
  /**
   * the run's dry-run rules (spec.dryRun[].metricName of the analysis step, then of its
   * templates): Go regular expressions; a gate whose name one matches does not decide the run
   */
  readonly dryRun?: readonly string[];
}

/** A user endpoint's share of the user requests, and the internal spans one of its requests causes. */
export interface UserShare {
  readonly endpoint: ServedEndpoint;
  /** its share of the user requests, 0..1 */
  readonly share: number;
  /** the internal spans one of its requests causes, resolved to the endpoints that serve them */
  readonly calls: readonly { readonly endpoint: ServedEndpoint; readonly perRequest: number }[];
}

/**
 * Where the canary's user requests are counted. A counter service also has the spanmetrics of
 * its spans (the latency gates read them); a spanmetrics-only service has nothing else.
 */
export type RequestSeries = CounterRequestSeries | SpanmetricsRequestSeries;

/**
 * The service's own request counter, scraped from its pods. It counts every server span the
 * process serves, by span name (HotROD's does: jaeger examples/hotrod pkg/tracing/rpcmetrics @ v1.76.0):
 * user requests, internal calls and, when the app traces them, Prometheus's scrapes.
 */
export interface CounterRequestSeries {
  readonly kind: 'counter';
  /** the metric, e.g. `hotrod_requests_total` */
  readonly metric: string;
  /** the label the service itself puts the span name in (before the scrape may rename it) */
  readonly endpointLabel: string;
  /** the label that marks failed requests, and its value on them */
  readonly errorLabel: string;
  readonly errorValue: string;
}

/** Only the spanmetrics calls of the service's SERVER spans: a failed request is a span with status ERROR. */
export interface SpanmetricsRequestSeries {
  readonly kind: 'spanmetrics';
}

/** The duration nearly all spans of an endpoint stay under, in ms, when its facts say. */
export function upToMs(endpoint: ServedEndpoint): number | undefined {
  return endpoint.typicalLatency && (endpoint.typicalLatency.upToMs ?? endpoint.typicalLatency.meanMs);
}

/**
 * The user endpoints whose latency the scenarios move: all but those whose spans stay within the
 * histogram's first bucket (they answer from memory, as HotROD's static `/` does); all of them
 * when every one is that fast.
 */
export function workEndpoints(target: RehearsalTarget): readonly UserShare[] {
  const firstBoundMs = target.spanmetrics.bucketBounds[0] * target.spanmetrics.msPerUnit;
  const work = target.userMix.filter((m) => !((upToMs(m.endpoint) ?? Infinity) <= firstBoundMs));
  return work.length > 0 ? work : target.userMix;
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
  /**
   * what the gate checks, as data: the construct's kind, or the AnalysisTemplate's
   * `GATE_KINDS_ANNOTATION`; undefined when the template does not say (a hand-written one),
   * which the scenarios treat like a custom gate
   */
  readonly kind?: GateKind;
  /** the quantile a latency gate reads, when known */
  readonly quantile?: number;
  /** the query, with `{{args.*}}` placeholders */
  readonly query: string;
  readonly successCondition?: string;
  readonly failureCondition?: string;
  /** the comparison of `result[0]` with the threshold, read from the condition */
  readonly threshold?: ResultComparison;
  /** a sequential gate's design, from the template's design annotation */
  readonly design?: GateDesign;
}

/** An input the rehearsal cannot use; the message says what to fix. */
export class RehearsalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RehearsalInputError';
  }
}

/** `namespace/name` of a rollout, as results name it. */
export function rolloutId(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * Refuses gates whose series the rehearsal cannot produce: a metric that is neither a spanmetrics
 * series nor the service's request counter would read as empty in every scenario.
 */
export function checkGateSeries(target: RehearsalTarget, where: string): void {
  const s = target.spanmetrics.series;
  const produced = [s.calls, s.durationBucket, s.durationCount, s.durationSum, ...(target.requests.kind === 'counter' ? [target.requests.metric] : [])];
  for (const g of target.gates) {
    const unknown = readPromql(g.query).selectors.map((x) => x.metric).find((m) => m !== undefined && !produced.includes(m));
    if (unknown) {
      throw new RehearsalInputError(`${where}: gate '${g.name}' reads ${unknown}, which the rehearsal cannot produce: for this rollout it writes only ${produced.join(', ')}; `
        + 'gate on those, or, for a service that counts its requests itself, declare its counter (RequestSource.counter, or the image\'s facts in lib/presets/images.ts for a folder)');
    }
  }
}

/** The endpoints one request of `endpoint` calls, resolved among the service's endpoints; an input error names a call to nothing. */
export function resolveCalls(endpoint: ServedEndpoint, endpoints: readonly ServedEndpoint[], where: string): UserShare['calls'] {
  return (endpoint.calls ?? []).map((call) => {
    const called = endpoints.find((e) => e.spanName === call.spanName && e !== endpoint);
    if (!called) {
      throw new RehearsalInputError(`${where}: endpoint '${endpoint.spanName}' calls '${call.spanName}', which is none of the service's endpoints `
        + `(${endpoints.map((e) => e.spanName).join(', ')}); declare it with caller 'internal'`);
    }
    return { endpoint: called, perRequest: call.perRequest };
  });
}

/** The share of user requests each user endpoint gets from a list of request URLs sent in turn, with the internal calls of each. */
export function userMixOf(users: readonly ServedEndpoint[], endpoints: readonly ServedEndpoint[], requests: readonly { readonly path: string; readonly method: string }[], where: string): UserShare[] {
  const counts = users.map((endpoint) => ({ endpoint, n: requests.filter((r) => servesUrl(endpoint, r.path, r.method)).length }));
  const total = counts.reduce((sum, c) => sum + c.n, 0);
  if (total === 0) {
    const sent = requests.map((r) => (r.method === DEFAULT_METHOD ? r.path : `${r.method} ${r.path}`));
    throw new RehearsalInputError(`${where}: the traffic generator sends ${sent.join(', ') || 'no path'}, none of which reaches a user endpoint `
      + `(${users.map((e) => `${e.spanName} at ${e.method && e.method !== DEFAULT_METHOD ? `${e.method} ` : ''}${(e.urls ?? []).join(', ') || 'no URL'}`).join('; ')}); `
      + 'send their URLs and methods, or give the endpoints the URLs it sends');
  }
  return counts.filter((c) => c.n > 0).map((c) => ({ endpoint: c.endpoint, share: c.n / total, calls: resolveCalls(c.endpoint, endpoints, where) }));
}

/**
 * Picks the targets of one rollout: `name` or `namespace/name`. Without a name every target is
 * kept; a name that matches none is an input error listing the rollouts there are.
 */
export function pickRollout(targets: readonly RehearsalTarget[], name: string | undefined): RehearsalTarget[] {
  if (name === undefined) return [...targets];
  const picked = targets.filter((t) => (name.includes('/') ? t.rollout === name : t.rollout.split('/')[1] === name));
  if (picked.length === 0) {
    const known = [...new Set(targets.map((t) => t.rollout))];
    throw new RehearsalInputError(`--rollout '${name}' names none of the rollouts with an analysis: ${known.join(', ') || 'none'}; give one of them (name or namespace/name)`);
  }
  const ids = new Set(picked.map((t) => t.rollout));
  if (ids.size > 1) throw new RehearsalInputError(`--rollout '${name}' names ${ids.size} rollouts (${[...ids].join(', ')}); give namespace/name`);
  return picked;
}
