import { PrometheusBackend } from '../platform/metrics-backend';

/**
 * How much evidence a gate needs, and when a new canary's series can first hold it.
 *
 * Everything here is computed from the telemetry pipeline's own facts (scrape interval and
 * discovery delay of the Prometheus, the connector's flush interval, the app's export delay),
 * so a slower scrape or flush moves every derived time, and `explain` can show the terms.
 */

/** Where a gate's series come from, which decides how late they are. */
export enum SeriesPath {
  /** the service's own metrics, scraped from its pods (a new pod must first be discovered) */
  POD_SCRAPE = 'pod-scrape',
  /** spanmetrics: spans -> the connector, flushed periodically -> the prometheus exporter -> a scrape of the collector */
  SPANMETRICS = 'spanmetrics',
}

/** One term of a derived time, with what it is. */
export interface TimingTerm {
  /** e.g. 'discovery delay' */
  readonly label: string;
  readonly seconds: number;
  /** where the number comes from, e.g. 'PrometheusBackend kube-prometheus-stack scrapeInterval' */
  readonly source: string;
}

/** The pipeline facts a derivation reads. */
export interface PipelineTiming {
  /** the Prometheus the gates query */
  readonly backend: PrometheusBackend;
  /** how often the spanmetrics connector flushes, in seconds */
  readonly flushSeconds: number;
  /** the longest a finished span waits before the connector sees it (SDK batch delay + collector batch timeout), in seconds */
  readonly exportDelaySeconds: number;
}

/** When a gate on a path can first judge a canary that gathers its evidence in `evidenceSeconds`. */
export interface DerivedTiming {
  readonly path: SeriesPath;
  /**
   * The worst case, in seconds after the canary starts serving, of when its first sample
   * is cut: requests before this are in the first sample, which rate() and increase() cannot count.
   */
  readonly countedFrom: readonly TimingTerm[];
  /** the time the canary needs to serve the evidence */
  readonly evidence: TimingTerm;
  /** the worst-case age of the newest sample's data at a measurement */
  readonly lag: readonly TimingTerm[];
  /** the sum of every term: the first moment the evidence is certainly in Prometheus */
  readonly totalSeconds: number;
}

function term(label: string, seconds: number, source: string): TimingTerm {
  return { label, seconds, source };
}

/**
 * The derivation, worst case over every phase a cluster picks at random:
 *
 * - pod scrape: the new pod becomes a target within the discovery delay, is first scraped within
 *   one scrape interval after that, and the newest sample at a measurement is up to one interval
 *   old: `discovery + scrape + evidence + scrape`;
 * - spanmetrics: a span reaches the connector within the export delay, the connector's first
 *   flush with the canary's spans comes within one flush interval (the series appear then, with
 *   their first counts already in), and at a measurement the newest sample is up to a scrape
 *   interval old and holds counts up to a flush interval older still:
 *   `export delay + flush + evidence + flush + scrape`. The collector is long-running, so its
 *   target needs no discovery.
 */
export function deriveTiming(path: SeriesPath, pipeline: PipelineTiming, evidenceSeconds: number): DerivedTiming {
  const b = pipeline.backend;
  const scrape = term('scrape interval', b.scrapeSeconds, `${b.name} scrapeInterval`);
  const evidence = term('evidence time', evidenceSeconds, 'the gates\' evidenceTime');
  const countedFrom = path === SeriesPath.POD_SCRAPE
    ? [term('discovery delay', b.discoverySeconds, `${b.name} discoveryDelay`), { ...scrape, label: 'first scrape phase' }]
    : [term('export delay', pipeline.exportDelaySeconds, 'SDK batch delay + collector batch timeout'),
      term('first flush phase', pipeline.flushSeconds, 'spanmetrics metrics_flush_interval')];
  const lag = path === SeriesPath.POD_SCRAPE
    ? [{ ...scrape, label: 'last scrape age' }]
    : [term('last flush age', pipeline.flushSeconds, 'spanmetrics metrics_flush_interval'), { ...scrape, label: 'last scrape age' }];
  const totalSeconds = [...countedFrom, evidence, ...lag].reduce((s, t) => s + t.seconds, 0);
  return { path, countedFrom, evidence, lag, totalSeconds };
}

/** `5 + 60 + 60 + 60 = 185 s (export delay + ...)`, for messages and `explain`. */
export function formatDerivation(d: DerivedTiming): string {
  // Without evidence (the first data at all) the evidence term is left out.
  const terms = [...d.countedFrom, ...(d.evidence.seconds > 0 ? [d.evidence] : []), ...d.lag];
  return `${terms.map((t) => num(t.seconds)).join(' + ')} = ${num(d.totalSeconds)} s (${terms.map((t) => t.label).join(' + ')})`;
}

function num(n: number): string {
  return Number(n.toPrecision(6)).toString();
}

/**
 * Requests needed before "fewer than `maxErrorRatio` failed" means anything: with no failure in
 * n requests, the one-sided upper confidence bound of the failure ratio is -ln(1 - c) / n (the
 * "rule of three" at c = 95 %), so n >= -ln(1 - c) / maxErrorRatio.
 */
export function requestsForErrorRatio(maxErrorRatio: number, confidence: number): number {
  return Math.ceil(-Math.log(1 - confidence) / maxErrorRatio - 1e-9);
}

/**
 * Samples needed before a q-quantile means anything: the largest of n samples lies above the
 * q-quantile with probability 1 - q^n, so n >= ln(1 - c) / ln(q) (59 for a p95 at 95 %).
 */
export function samplesForQuantile(quantile: number, confidence: number): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log(quantile) - 1e-9);
}

/**
 * The mean of a Poisson count that reaches `n` with probability `confidence`: requests reach a
 * pod at random (kube-proxy picks a backend per connection), so a canary expected to serve
 * exactly n requests in a window serves fewer about half the time.
 */
export function poissonMeanFor(n: number, confidence: number): number {
  if (n <= 0) return 0;
  // P(X >= n) grows with the mean: bisect on it, in steps of 0.1 request (the terms in logs, so a
  // mean of thousands does not underflow exp(-mean))
  const reaches = (mean: number) => {
    let logTerm = -mean;
    let below = Math.exp(logTerm);
    for (let k = 1; k <= n - 1; k++) {
      logTerm += Math.log(mean / k);
      below += Math.exp(logTerm);
    }
    return 1 - below >= confidence;
  };
  let lo = Math.max(0, n - 1);
  let hi = n + 1;
  while (!reaches(hi)) hi += Math.max(1, Math.sqrt(n)) * 2;
  while (hi - lo > 0.05) {
    const mid = (lo + hi) / 2;
    if (reaches(mid)) hi = mid;
    else lo = mid;
  }
  return Math.ceil(hi * 10 - 1e-9) / 10;
}

/**
 * How sure the traffic generator must be that the canary serves the evidence in time: requests
 * reach pods at random, so it is sized for this share of evidence windows.
 */
export const ARRIVAL_CONFIDENCE = 0.999;

/** The request rate a canary must get to serve `evidence` requests within `seconds`, with {@link ARRIVAL_CONFIDENCE}. */
export function requiredRequestsPerSecond(evidence: number, seconds: number): number {
  return poissonMeanFor(evidence, ARRIVAL_CONFIDENCE) / seconds;
}
