import { createHash } from 'crypto';
import { effectiveCount } from '../analysis/schedule';
import { ServedEndpoint } from '../platform/image-facts';
import { COLLECTOR_RESTART_GAP, SPAN_KIND_SERVER, SPANMETRICS_STATUS } from '../platform/collector-config';
import { bucketBoundText } from '../platform/prometheus-naming';
import { consistentSlow, Disruption, PodTraffic, Scenario, SlowShare } from './scenarios';
import type { SeriesFilter } from './series-filter';
import { CounterRequestSeries, PodField, RehearsalInputError, RehearsalTarget, upToMs, workEndpoints } from './target';

/**
 * The synthetic series of the rehearsal, as Prometheus would have stored them, for many trials
 * of each scenario. Each trial draws what a cluster picks at random:
 *
 * - when Prometheus discovers the new canary pod (0 .. the backend's discovery delay after it
 *   starts serving) and the phase of its scrapes (0 .. the scrape interval, as Prometheus
 *   derives it from a hash of the target);
 * - the phase of the collector's scrapes and of its spanmetrics flushes (the connector's ticker
 *   starts with the collector), and how long spans wait before they reach it (0 .. the export delay);
 * - for a collector restart: when it happens, and the new pod's discovery and scrape phase.
 *
 * With sampling noise on (the default), each request is drawn as a cluster makes it: requests reach
 * each pod as a Poisson process at the pod's rate (kube-proxy spreads connections at random), each
 * fails with the scenario's chance, and each falls in the histogram bucket its drawn latency lies
 * in; every trial draws its own (from a seed of its own, derived from the rehearsal's `--seed`).
 * With noise off, counts are the rates times the time, and shares are exact, as the rehearsal
 * used to model them.
 *
 * A service is modelled from its target: its user requests (the traffic generator's mix), the
 * internal spans each causes (its endpoints' `calls`), and Prometheus's scrapes when the app
 * traces them. A service that counts its requests itself (HotROD, jaeger examples/hotrod @ v1.76.0)
 * has its counter scraped from its pods, counting every server span by span name, internal calls
 * and traced scrapes included, with both `error` children of an endpoint at 0 from its first
 * request; a spanmetrics-only service has no pod series at all. Spanmetrics sees the same server
 * spans, failed ones with status ERROR (client spans are left out: they would only dilute an
 * unfiltered gate further). The canary starts serving when the AnalysisRun starts (t = 0, the
 * latest it can), the stable pods have served for an hour.
 *
 * Trials of a scenario share its stretch of time and its stable pods; each has its own canary
 * pod-template hash, which every gate selects on. Each scenario gets its own hour, so no window
 * reaches a neighbour, and one TSDB holds every scenario of every Prometheus setup.
 */

/** How long a restarted collector is away, in seconds: spans sent meanwhile are lost. */
export const COLLECTOR_RESTART_GAP_SECONDS = COLLECTOR_RESTART_GAP.toSeconds();

/** The first analysis start: 2025-01-01T00:00:00Z plus a margin for the stable pods' history. */
const EPOCH_SECONDS = 1735689600 + 3600;

/** What one trial drew. */
export interface TrialPhases {
  /** seconds after the canary starts serving until it is a scrape target */
  readonly discovery: number;
  /** the phase of the canary pods' scrapes: they happen at phase + k x interval */
  readonly canaryScrapePhase: number;
  readonly collectorScrapePhase: number;
  /** the phase of the connector's flushes */
  readonly flushPhase: number;
  /** how long a finished span takes to reach the connector */
  readonly exportDelay: number;
  /** a collector restart: when it goes down, and the new pod's discovery delay and scrape phase */
  readonly restart?: { readonly at: number; readonly discovery: number; readonly scrapePhase: number };
}

/** One trial of a scenario. */
export interface Trial {
  readonly index: number;
  readonly canaryHash: string;
  readonly phases: TrialPhases;
  /** the seed of its requests' draws (arrivals, failures, latencies) */
  readonly seed: number;
  /** the hash of stable pods of its own, when the scenario draws them per trial */
  readonly stableHash?: string;
}

/** A scenario placed in time, with its trials. */
export interface PlacedScenario {
  readonly scenario: Scenario;
  /** whether requests are drawn (arrivals, failures, latencies) or counted as rate x time */
  readonly noise: boolean;
  /** the Unix time of the analysis start of every trial */
  readonly origin: number;
  readonly stableHash: string;
  readonly trials: readonly Trial[];
}

/** How long (seconds) the rehearsal may need data after the analysis start, from the gates' timings. */
export function horizonSeconds(target: RehearsalTarget): number {
  return Math.max(...target.gates.map((g) => {
    const count = effectiveCount(g);
    if (count === undefined) throw new RehearsalInputError(`gate '${g.name}' has an interval and no count: it measures until the run ends, so the rehearsal has no end to write data for; give it a count`);
    const step = Math.max(g.intervalSeconds, 10);
    // a counted measurement may follow a few retried errors (none happen on the rehearsal's data but a broken query's)
    return g.initialDelaySeconds + (count - 1) * step + Math.min(g.consecutiveErrorLimit, 3) * 10;
  })) + 1;
}

/** The longest window (seconds) a gate reads: samples back to then must exist. */
function lookbackSeconds(target: RehearsalTarget): number {
  // range selectors `[5m]` and subqueries `[2140s:1m]`
  const windows = target.gates.map((g) => Math.max(0, ...[...g.query.matchAll(/\[(\d+)([smh])(?::[0-9smh]*)?\]/g)].map((m) => Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'])));
  return Math.max(300, ...windows) + target.prometheus.scrapeSeconds;
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32), so a rehearsal can be repeated. */
export function randomSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws the phases of one trial. */
export function drawPhases(target: RehearsalTarget, scenario: Scenario, random: () => number): TrialPhases {
  const s = target.prometheus.scrapeSeconds;
  const f = target.spanmetrics.flushSeconds;
  const d = target.prometheus.discoverySeconds;
  // the looks go on until the last one: a restart anywhere in the first 60 % of that span disturbs them
  const horizon = Math.max(...target.gates.map((g) => g.initialDelaySeconds + Math.max(0, (effectiveCount(g) ?? 1) - 1) * g.intervalSeconds));
  const phases = {
    discovery: random() * d,
    canaryScrapePhase: random() * s,
    collectorScrapePhase: random() * s,
    flushPhase: random() * f,
    exportDelay: random() * target.spanmetrics.exportDelaySeconds,
  };
  if (scenario.disruption !== Disruption.COLLECTOR_RESTART) return phases;
  return { ...phases, restart: { at: horizon * (0.1 + 0.5 * random()), discovery: random() * d, scrapePhase: random() * s } };
}

/** Places every scenario in its own hour, with `trials` trials each, drawn from `seed`. */
export function placeScenarios(target: RehearsalTarget, scenarios: readonly Scenario[], trials: number, seed: number, firstSlot = 0, noise = true): PlacedScenario[] {
  const slot = Math.ceil((lookbackSeconds(target) + horizonSeconds(target) + 900) / 3600) * 3600;
  return scenarios.map((scenario, i) => {
    const random = randomSource(seed ^ hashNumber(`${target.prometheus.name}/${scenario.name}`));
    return {
      scenario,
      noise,
      origin: EPOCH_SECONDS + (firstSlot + i) * slot,
      stableHash: podTemplateHash(`${seed}/${scenario.name}/stable`),
      trials: Array.from({ length: trials }, (_, k) => ({
        index: k,
        canaryHash: podTemplateHash(`${seed}/${scenario.name}/canary/${k}`),
        phases: drawPhases(target, scenario, random),
        seed: hashNumber(`${seed}/${target.rollout}/${target.prometheus.name}/${scenario.name}/trial/${k}`),
        ...(scenario.stablePerTrial ? { stableHash: podTemplateHash(`${seed}/${scenario.name}/stable/${k}`) } : {}),
      })),
    };
  });
}

/** How many hours {@link placeScenarios} uses. */
export function slotsUsed(target: RehearsalTarget, scenarios: readonly Scenario[]): number {
  return scenarios.length * Math.ceil((lookbackSeconds(target) + horizonSeconds(target) + 900) / 3600);
}

function hashNumber(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

/** A pod-template hash as Kubernetes writes them (safe-encoded), derived from a seed so runs are reproducible. */
function podTemplateHash(seed: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...createHash('sha256').update(seed).digest()].slice(0, 10).map((b) => alphabet[b % alphabet.length]).join('');
}

type Labels = Record<string, string>;

/**
 * The cumulative share of a work endpoint's requests at or below each bucket bound (+Inf last),
 * for the slow shares of a profile (shares of all user requests; the fast endpoints, a
 * `fastShare` of them, are never slow): the requests that are not slow take about `body`
 * (capped at the lowest slow bound), and those slower than a bound but not the next sit in the
 * bucket just above it.
 */
export function workLatencyCdf(bounds: readonly number[], slow: readonly SlowShare[], fastShare: number, body: number): number[] {
  const work = 1 - fastShare;
  const constraints = consistentSlow(slow).map((c) => ({ k: bucketAbove(bounds, c.bound), at: bucketAtOrBelow(bounds, c.bound), share: Math.min(1, c.share / work) }));
  const mass = new Array<number>(bounds.length + 1).fill(0);
  const bodyBucket = bounds.findIndex((b) => b >= body);
  const bulk = 1 - (constraints[0]?.share ?? 0);
  const cap = constraints.length > 0 ? constraints[0].at : bounds.length;
  mass[Math.min(bodyBucket < 0 ? bounds.length : bodyBucket, cap)] += bulk;
  constraints.forEach((c, i) => {
    mass[c.k] += c.share - (constraints[i + 1]?.share ?? 0);
  });
  let sum = 0;
  return mass.map((m) => Math.min(1, (sum += m)));
}

/** The bucket (index into the bounds, the last for +Inf) of a request just slower than `bound`. */
function bucketAbove(bounds: readonly number[], bound: number): number {
  const k = bounds.findIndex((b) => b > bound + 1e-9);
  return k < 0 ? bounds.length : k;
}

/** The bucket of a request that takes just `bound` (it is not slower than it). */
function bucketAtOrBelow(bounds: readonly number[], bound: number): number {
  const k = bounds.findIndex((b) => b >= bound - 1e-9);
  return k < 0 ? bounds.length : k;
}

/** The spans of one endpoint of one pod: how many end per second, how many fail, their bucket distribution. */
interface SpanSource {
  readonly endpoint: ServedEndpoint;
  readonly perSecond: number;
  readonly errorShare: number;
  /** cumulative share per bucket bound (+Inf last) */
  readonly cdf: readonly number[];
  /** a representative duration, for the `_sum` series, in the histogram unit */
  readonly mean: number;
}

/** The cdf of spans that all take about `inUnit`. */
function fixedLatency(bounds: readonly number[], inUnit: number): number[] {
  return [...bounds.map((b) => (b >= inUnit ? 1 : 0)), 1];
}

/** The spans of a modelled endpoint that all take its typical latency (the first bucket when its facts say none). */
function steadySource(target: RehearsalTarget, endpoint: ServedEndpoint, perSecond: number): SpanSource {
  const bounds = target.spanmetrics.bucketBounds;
  const unit = (ms: number) => ms / target.spanmetrics.msPerUnit;
  const mean = endpoint.typicalLatency ? unit(endpoint.typicalLatency.meanMs) : bounds[0];
  const upTo = upToMs(endpoint);
  return { endpoint, perSecond, errorShare: 0, cdf: fixedLatency(bounds, upTo === undefined ? bounds[0] : unit(upTo)), mean };
}

/**
 * Every server span a pod emits per second under a load, but Prometheus's scrapes: its user
 * requests, and the internal calls each causes (as its endpoints' `calls` say; fast and
 * successful). Failures and slowness fall on the work endpoints ({@link workEndpoints}); the fast
 * ones keep their latency and never fail.
 */
function spanSources(target: RehearsalTarget, traffic: PodTraffic): SpanSource[] {
  const bounds = target.spanmetrics.bucketBounds;
  const unit = (ms: number) => ms / target.spanmetrics.msPerUnit;
  const work = workEndpoints(target);
  const fastShare = target.userMix.filter((m) => !work.includes(m)).reduce((sum, m) => sum + m.share, 0);
  const workShare = 1 - fastShare;
  const body = unit(Math.max(0, ...work.map((m) => m.endpoint.typicalLatency?.meanMs ?? 0))) || bounds[Math.floor(bounds.length / 2)];
  const cdf = workLatencyCdf(bounds, traffic.slow, fastShare, body);
  const r = traffic.userRequestsPerSecond;
  const out: SpanSource[] = target.userMix.map((m) => (work.includes(m)
    ? { endpoint: m.endpoint, perSecond: r * m.share, errorShare: Math.min(1, traffic.errorRatio / workShare), cdf, mean: body }
    : steadySource(target, m.endpoint, r * m.share)));
  const internal = new Map<ServedEndpoint, number>();
  for (const m of target.userMix) {
    for (const call of m.calls) internal.set(call.endpoint, (internal.get(call.endpoint) ?? 0) + r * m.share * call.perRequest);
  }
  for (const [endpoint, perSecond] of internal) out.push(steadySource(target, endpoint, perSecond));
  return out;
}

/**
 * The spans of one source on one pod from `start` on: how many had ended by a time, failed or
 * not, and how many of those took at most a bucket's bound.
 */
interface SpanLog {
  readonly source: SpanSource;
  /** spans ended by `t`: all of them, and the failed ones */
  counts(t: number): { all: number; failed: number };
  /** spans ended by `t` with this status whose duration is at most bucket k's bound (k = the number of bounds: +Inf) */
  bucket(t: number, k: number, failed: boolean): number;
}

/** Counts as rate x time, shares exact: the rehearsal without sampling noise. */
function steadyLog(source: SpanSource, start: number): SpanLog {
  const counts = (t: number) => {
    if (t < start) return { all: 0, failed: 0 };
    return { all: Math.floor(source.perSecond * (t - start) + 1e-9), failed: Math.floor(source.perSecond * source.errorShare * (t - start) + 1e-9) };
  };
  return {
    source,
    counts,
    bucket: (t, k, failed) => {
      const c = counts(t);
      return Math.round((failed ? c.failed : c.all - c.failed) * source.cdf[k]);
    },
  };
}

/**
 * Spans drawn one by one from `start` to `until`: arrivals as a Poisson process at the source's
 * rate (exponential gaps), each failed with its error share, each in the bucket its latency falls in.
 */
function drawnLog(source: SpanSource, start: number, until: number, random: () => number): SpanLog {
  // drawn when first asked for, from a generator of its own: a series that is never written (the
  // internal calls, with gates that select the user endpoints) costs nothing, and what one log
  // draws does not depend on which others were drawn
  const seed = Math.floor(random() * 4294967296);
  let drawn: ReturnType<typeof draw> | undefined;
  const log = () => (drawn ??= draw(source, start, until, randomSource(seed)));
  return {
    source,
    counts: (t) => log().counts(t),
    bucket: (t, k, failed) => log().bucket(t, k, failed),
  };
}

function draw(source: SpanSource, start: number, until: number, random: () => number) {
  const times: number[] = [];
  const failedFlags: boolean[] = [];
  const buckets: number[] = [];
  if (source.perSecond > 0) {
    for (let t = start - Math.log(1 - random()) / source.perSecond; t <= until; t -= Math.log(1 - random()) / source.perSecond) {
      times.push(t);
      failedFlags.push(random() < source.errorShare);
      const u = random();
      let k = 0;
      while (k < source.cdf.length - 1 && source.cdf[k] < u) k++;
      buckets.push(k);
    }
  }
  const failedBefore = new Int32Array(times.length + 1);
  for (let i = 0; i < times.length; i++) failedBefore[i + 1] = failedBefore[i] + (failedFlags[i] ? 1 : 0);
  // the spans up to t: the first `index(t)` arrivals
  const index = (t: number) => {
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // per bucket and status, the spans among the first i at or below it; made when first asked
  const cumulative = new Map<string, Int32Array>();
  const table = (k: number, failed: boolean) => {
    const key = `${k}/${failed}`;
    let c = cumulative.get(key);
    if (!c) {
      c = new Int32Array(times.length + 1);
      for (let i = 0; i < times.length; i++) c[i + 1] = c[i] + (failedFlags[i] === failed && buckets[i] <= k ? 1 : 0);
      cumulative.set(key, c);
    }
    return c;
  };
  return {
    counts: (t: number) => {
      const i = index(t);
      return { all: i, failed: failedBefore[i] };
    },
    bucket: (t: number, k: number, failed: boolean) => table(k, failed)[index(t)],
  };
}

/** Scrape times of a target with `phase`, from `from` to `to` (seconds, relative to the analysis start). */
function scrapeTimes(phase: number, interval: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.ceil((from - phase) / interval - 1e-9) * interval + phase; t <= to; t += interval) out.push(Math.round(t * 1000) / 1000);
  return out;
}

/** Where series go: `add` appends the samples of one series (computed only when it is written); `wants` says whether a series would be written. */
interface Write {
  wants(name: string, labels: Labels): boolean;
  add(name: string, labels: Labels, samples: () => readonly (readonly [number, number])[]): void;
}

/**
 * The labels of the series scraped from one target: exposed labels that clash with the target's
 * become `exported_*` unless honoured, else they win (the renaming is worked out once per name).
 */
function scrapedFrom(target: RehearsalTarget, targetLabels: Labels): (exposed: Labels) => Labels {
  const keys = Object.keys(targetLabels);
  const names = new Map<string, string>();
  return (exposed) => {
    const out: Labels = { ...targetLabels };
    for (const k in exposed) {
      let name = names.get(k);
      if (name === undefined) names.set(k, name = target.prometheus.exposedLabel(k, keys));
      out[name] = exposed[k];
    }
    return out;
  };
}

interface PodSpec {
  readonly name: string;
  readonly hash: string;
  /** when it started serving (seconds, relative to the analysis start) */
  readonly start: number;
  /** when Prometheus first has it as a target */
  readonly discoveredAt: number;
  readonly scrapePhase: number;
  /** its spans, per source */
  readonly logs: readonly SpanLog[];
}

/** The pod's own request counter, as scraped: every server span it serves, by span name, and Prometheus's scrapes when it traces them. */
function writeCounter(target: RehearsalTarget, req: CounterRequestSeries, port: { name: string; number: number }, pod: PodSpec, to: number, write: Write): void {
  const w = target.workload;
  const s = target.prometheus.scrapeSeconds;
  const podLabels = { ...w.podLabels, [w.hashPodLabel]: pod.hash };
  const targetLabels = target.prometheus.targetLabelValues({
    namespace: target.namespace, pod: pod.name, node: 'node-1', container: w.container, port, workload: w.name, podLabels, podTargetLabels: [w.hashPodLabel],
  });
  const scraped = scrapedFrom(target, targetLabels);
  const times = scrapeTimes(pod.scrapePhase, s, Math.max(pod.discoveredAt, -lookbackSeconds(target)), to);
  if (times.length === 0) return;
  // Prometheus's own scrapes: the span of a scrape ends after its response, so scrape k sees k - 1.
  const firstScrape = scrapeTimes(pod.scrapePhase, s, pod.discoveredAt, pod.discoveredAt + s)[0];
  const metricsCount = (t: number) => Math.max(0, Math.round((t - firstScrape) / s));
  const all: { endpoint: string; value: (t: number) => { ok: number; failed: number } | undefined }[] = pod.logs.map((log) => ({
    endpoint: log.source.endpoint.spanName,
    value: (t: number) => {
      const c = log.counts(t);
      return c.all > 0 ? { ok: c.all - c.failed, failed: c.failed } : undefined; // the endpoint is first seen with its first request
    },
  }));
  if (target.scrapeSpan) all.push({ endpoint: target.scrapeSpan.spanName, value: (t) => (metricsCount(t) > 0 ? { ok: metricsCount(t), failed: 0 } : undefined) });
  for (const e of all) {
    for (const failed of [false, true]) {
      const labels = scraped({ [req.endpointLabel]: e.endpoint, [req.errorLabel]: failed ? req.errorValue : 'false' });
      if (!write.wants(req.metric, labels)) continue;
      const samples = times.map((t) => [t, e.value(t)] as const).filter(([, v]) => v !== undefined).map(([t, v]) => [t, failed ? v!.failed : v!.ok] as const);
      if (samples.length === 0) continue;
      write.add(req.metric, labels, () => samples);
    }
  }
}

/** One collector instance the pod's spans reach: when it runs, flushes and is scraped. */
interface CollectorRun {
  readonly pod: string;
  /** spans that reach it in (from, until] are counted */
  readonly from: number;
  readonly until: number;
  readonly flushPhase: number;
  /** its first flush: a connector flushes one interval after it starts */
  readonly firstFlush: number;
  /** scraped from here on, until it stops */
  readonly scrapedFrom: number;
  readonly scrapePhase: number;
}

/**
 * The spanmetrics of one pod's server spans through one collector run, as scraped from the
 * collector: calls (failed ones with status ERROR) and the duration histogram.
 */
function writeSpanmetrics(target: RehearsalTarget, pod: PodSpec, run: CollectorRun, exportDelay: number, to: number, write: Write): void {
  const sm = target.spanmetrics;
  const [serviceLabel, spanNameLabel, spanKindLabel, statusLabel] = sm.series.intrinsicLabels;
  const c = target.collector;
  const targetLabels = target.prometheus.targetLabelValues({
    namespace: c.namespace, pod: run.pod, node: 'node-1', container: c.name, port: { name: c.scrapePortName, number: c.scrapePort }, workload: c.name, podLabels: c.podLabels,
  });
  const scraped = scrapedFrom(target, targetLabels);
  const fields: Record<PodField, string> = { namespace: target.namespace, podName: pod.name, podTemplateHash: pod.hash };
  const dims: Labels = {};
  for (const d of sm.dimensions) {
    const value = d.from ? fields[d.from] : d.value;
    if (value !== undefined) dims[d.label] = value;
  }
  const f = sm.flushSeconds;
  const lastFlush = (t: number) => {
    const at = Math.floor((t - run.flushPhase) / f + 1e-9) * f + run.flushPhase;
    return at >= run.firstFlush ? at : undefined;
  };
  const times = scrapeTimes(run.scrapePhase, target.prometheus.scrapeSeconds, Math.max(run.scrapedFrom, -lookbackSeconds(target)), Math.min(to, run.until - 1e-6));
  const les = [...sm.bucketBounds.map(bucketBoundText), '+Inf'];
  // Prometheus's scrapes of the pod, when the app traces them: one span per scrape interval from its discovery
  const scrapes = target.scrapeSpan && target.workload.metricsPort
    ? steadyLog(steadySource(target, target.scrapeSpan, 1 / target.prometheus.scrapeSeconds), pod.discoveredAt) : undefined;
  for (const log of scrapes ? [...pod.logs, scrapes] : pod.logs) {
    const src = log.source;
    // spans counted by this run as of its last flush before t: those that reached it in (from, flush]
    const window = (t: number): { upTo: number; before: number } | undefined => {
      const flush = lastFlush(t);
      return flush === undefined ? undefined : { upTo: Math.min(flush, run.until) - exportDelay, before: run.from - exportDelay };
    };
    for (const failed of [false, true]) {
      const base = scraped({
        [serviceLabel]: src.endpoint.service, [spanNameLabel]: src.endpoint.spanName, [spanKindLabel]: SPAN_KIND_SERVER,
        [statusLabel]: failed ? SPANMETRICS_STATUS.error : SPANMETRICS_STATUS.unset, ...dims,
      });
      // a bucket that stays 0 adds nothing to any sum
      const buckets = les.map((le, k) => ({ le, k })).filter(({ le, k }) => src.cdf[k] !== 0 && write.wants(sm.series.durationBucket, { ...base, le }));
      const plain = [sm.series.calls, sm.series.durationCount, sm.series.durationSum].filter((name) => write.wants(name, base));
      if (buckets.length === 0 && plain.length === 0) continue;
      const count = (t: number): number | undefined => {
        const w = window(t);
        if (!w) return undefined;
        const at = log.counts(w.upTo);
        const before = log.counts(w.before);
        const n = failed ? at.failed - before.failed : at.all - at.failed - (before.all - before.failed);
        return n > 0 ? n : undefined;
      };
      const values = times.map((t) => [t, count(t)] as const).filter(([, v]) => v !== undefined) as [number, number][];
      if (values.length === 0) continue;
      for (const name of plain) write.add(name, base, () => (name === sm.series.durationSum ? values.map(([t, v]) => [t, v * src.mean]) : values));
      for (const { le, k } of buckets) {
        write.add(sm.series.durationBucket, { ...base, le }, () => values.map(([t]) => {
          const w = window(t)!;
          return [t, log.bucket(w.upTo, k, failed) - log.bucket(w.before, k, failed)];
        }));
      }
    }
  }
}

/**
 * The series of one placed scenario: its stable pods once, a canary pod per trial. A counter
 * service's pods are scraped for its counter; a spanmetrics-only service has only the spanmetrics.
 */
function writeScenario(target: RehearsalTarget, placed: PlacedScenario, to: number, write: Write): void {
  const { scenario } = placed;
  const req = target.requests;
  const port = target.workload.metricsPort;
  const writeCounterOf = (pod: PodSpec) => {
    if (req.kind === 'counter' && port) writeCounter(target, req, port, pod, to, write);
  };
  const random = randomSource(hashNumber(`${placed.stableHash}/stable-phases`));
  const s = target.prometheus.scrapeSeconds;
  const logsOf = (traffic: PodTraffic, start: number, draws: () => number) => spanSources(target, traffic)
    .map((src) => (placed.noise ? drawnLog(src, start, to, draws) : steadyLog(src, start)));
  const stableRun: CollectorRun = { pod: 'collector-stable', from: -1e9, until: Infinity, flushPhase: random() * target.spanmetrics.flushSeconds, firstFlush: -1e9, scrapedFrom: -1e9, scrapePhase: random() * s };
  // the stable pods' requests before the lookback cannot reach any answer: their counts start there
  const stableStart = -lookbackSeconds(target) - target.prometheus.scrapeSeconds;
  const writeStable = (hash: string, draws: () => number) => {
    for (let k = 0; k < target.pods.stable; k++) {
      const pod: PodSpec = {
        name: `${target.workload.name}-${hash}-s${k}`, hash, start: stableStart, discoveredAt: -3600, scrapePhase: random() * s,
        logs: logsOf(scenario.stable, stableStart, draws),
      };
      writeCounterOf(pod);
      if (scenario.disruption !== Disruption.NO_SPANMETRICS) writeSpanmetrics(target, pod, stableRun, 0, to, write);
    }
  };
  // stable pods shared by the trials, or (for a gate that compares with them) drawn per trial, so trials stay independent
  if (!scenario.stablePerTrial) writeStable(placed.stableHash, randomSource(hashNumber(`${placed.stableHash}/stable-requests`)));
  for (const trial of placed.trials) {
    const p = trial.phases;
    const draws = randomSource(trial.seed);
    if (trial.stableHash) writeStable(trial.stableHash, randomSource(hashNumber(`${trial.seed}/stable`)));
    for (let k = 0; k < target.pods.canary; k++) {
      const pod: PodSpec = {
        name: `${target.workload.name}-${trial.canaryHash}-c${k}`, hash: trial.canaryHash, start: 0, discoveredAt: p.discovery, scrapePhase: p.canaryScrapePhase,
        logs: logsOf(scenario.canary, 0, draws),
      };
      writeCounterOf(pod);
      if (scenario.disruption === Disruption.NO_SPANMETRICS) continue;
      const collector = `collector-${trial.canaryHash.slice(0, 5)}`;
      // Its collector has run for long: it is a known target, and its flush phase is its own.
      const first: CollectorRun = { pod: collector, from: -1e9, until: p.restart?.at ?? Infinity, flushPhase: p.flushPhase, firstFlush: -1e9, scrapedFrom: -1e9, scrapePhase: p.collectorScrapePhase };
      writeSpanmetrics(target, pod, first, p.exportDelay, to, write);
      if (p.restart) {
        const up = p.restart.at + COLLECTOR_RESTART_GAP_SECONDS;
        // The new pod's connector starts its flush ticker with it; it is a new scrape target.
        writeSpanmetrics(target, pod, { pod: `${collector}-r`, from: up, until: Infinity, flushPhase: up, firstFlush: up + target.spanmetrics.flushSeconds, scrapedFrom: up + p.restart.discovery, scrapePhase: p.restart.scrapePhase },
          p.exportDelay, to, write);
      }
    }
  }
}

/**
 * The OpenMetrics text of one placed scenario, for `promtool tsdb create-blocks-from openmetrics`;
 * empty when it has no series. With `keep`, only the series it keeps are written (series-filter.ts).
 */
export function openMetrics(target: RehearsalTarget, placed: PlacedScenario, keep?: SeriesFilter): string {
  const horizon = horizonSeconds(target);
  const families = new Map<string, string[]>();
  const write: Write = {
    wants: (name, labels) => !keep || keep(name, labels),
    add: (name, labels, samples) => {
      let lines = families.get(name);
      if (!lines) families.set(name, lines = []);
      const selector = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
      for (const [t, v] of samples()) lines.push(`${selector} ${v} ${(placed.origin + t).toFixed(3)}`);
    },
  };
  writeScenario(target, placed, horizon, write);
  // a scenario may have no series at all (a spanmetrics-only service whose spanmetrics are gone)
  if (families.size === 0) return '';
  return `${[...families.values()].flat().join('\n')}\n# EOF\n`;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
