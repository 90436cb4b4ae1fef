import { createHash } from 'crypto';
import { effectiveCount } from '../analysis/schedule';
import { ServedEndpoint } from '../platform/image-facts';
import { SPAN_KIND_SERVER, SPANMETRICS_STATUS } from '../platform/collector-config';
import { Disruption, PodTraffic, Scenario } from './scenarios';
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
 * A service is modelled from its target: its user requests (the traffic generator's mix), the
 * internal spans each causes (its endpoints' `calls`), and Prometheus's scrapes when the app
 * traces them. A service that counts its requests itself (HotROD, jaeger examples/hotrod @ v1.76.0)
 * has its counter scraped from its pods, counting every server span by span name, internal calls
 * and traced scrapes included, with both `error` children of an endpoint at 0 from its first
 * request; a spanmetrics-only service has no pod series at all. Spanmetrics sees the same server
 * spans, failed ones with status ERROR (client spans are left out: they would only dilute an
 * unfiltered gate further). The canary starts serving when the AnalysisRun starts (t = 0, the
 * latest it can), the stable pods have served for an hour. Request counts are deterministic
 * (rate x time); only timing is drawn.
 *
 * Trials of a scenario share its stretch of time and its stable pods; each has its own canary
 * pod-template hash, which every gate selects on. Each scenario gets its own hour, so no window
 * reaches a neighbour, and one TSDB holds every scenario of every Prometheus setup.
 */

/** How long a restarted collector is away, in seconds: spans sent meanwhile are lost. */
export const COLLECTOR_RESTART_GAP_SECONDS = 10;

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
}

/** A scenario placed in time, with its trials. */
export interface PlacedScenario {
  readonly scenario: Scenario;
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
    // every counted measurement may be preceded by up to consecutiveErrorLimit retried errors
    return g.initialDelaySeconds + (count - 1 + count * g.consecutiveErrorLimit) * step;
  })) + 1;
}

/** The longest window (seconds) a gate reads: samples back to then must exist. */
function lookbackSeconds(target: RehearsalTarget): number {
  const windows = target.gates.map((g) => Math.max(0, ...[...g.query.matchAll(/\[(\d+)([smh])\]/g)].map((m) => Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'])));
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
  const horizon = Math.max(...target.gates.map((g) => g.initialDelaySeconds));
  const phases = {
    discovery: random() * d,
    canaryScrapePhase: random() * s,
    collectorScrapePhase: random() * s,
    flushPhase: random() * f,
    exportDelay: random() * target.spanmetrics.exportDelaySeconds,
  };
  if (scenario.disruption !== Disruption.COLLECTOR_RESTART) return phases;
  return { ...phases, restart: { at: horizon * (0.1 + 0.8 * random()), discovery: random() * d, scrapePhase: random() * s } };
}

/** Places every scenario in its own hour, with `trials` trials each, drawn from `seed`. */
export function placeScenarios(target: RehearsalTarget, scenarios: readonly Scenario[], trials: number, seed: number, firstSlot = 0): PlacedScenario[] {
  const slot = Math.ceil((lookbackSeconds(target) + horizonSeconds(target) + 900) / 3600) * 3600;
  return scenarios.map((scenario, i) => {
    const random = randomSource(seed ^ hashNumber(`${target.prometheus.name}/${scenario.name}`));
    return {
      scenario,
      origin: EPOCH_SECONDS + (firstSlot + i) * slot,
      stableHash: podTemplateHash(`${seed}/${scenario.name}/stable`),
      trials: Array.from({ length: trials }, (_, k) => ({
        index: k,
        canaryHash: podTemplateHash(`${seed}/${scenario.name}/canary/${k}`),
        phases: drawPhases(target, scenario, random),
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
 * The cumulative share of user requests at or below each bucket bound (the last entry is +Inf),
 * for the fast endpoints (served in the first bucket, e.g. HotROD's static `/`) and the others
 * (the work, e.g. HotROD's `/dispatch`) separately, so that `histogram_quantile(0.95, ...)` over
 * both lands exactly on `p95`: the fast requests and most of the work are below the bucket that
 * holds p95, a few above it.
 */
export function userLatencyDistribution(bounds: readonly number[], p95: number, fastShare: number, body = p95): { fast: number[]; work: number[] } {
  const j = bounds.findIndex((b) => b >= p95);
  if (j <= 0) {
    throw new Error(`cannot model a p95 of ${p95}: it must lie above the first bucket bound (${bounds[0]}) and at most the last (${bounds[bounds.length - 1]})`);
  }
  const lo = bounds[j - 1];
  const r = (p95 - lo) / (bounds[j] - lo);
  // C(lo) = below, C(hi) = upTo, with lo + (hi - lo) (0.95 - below) / (upTo - below) = p95
  const [below, upTo] = r < 0.5 ? [0.95 - (0.05 * r) / (1 - r), 1] : [0.95 - 0.1 * r, 1.05 - 0.1 * r];
  if (below < fastShare) throw new Error(`cannot model a p95 of ${p95} with ${fastShare * 100}% fast requests`);
  // work below p95's bucket sits in the bucket of its typical duration `body`, at most the one below p95's
  const b = Math.min(j - 1, Math.max(0, bounds.findIndex((x) => x >= body)));
  const combined = [...bounds.map((_, k) => (k < b ? fastShare : k < j ? below : k === j ? upTo : 1)), 1];
  const work = combined.map((c) => (c - fastShare) / (1 - fastShare));
  return { fast: combined.map(() => 1), work };
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
 * successful). Failures and the scenario's latency fall on the work endpoints
 * ({@link workEndpoints}); the fast ones keep their latency and never fail.
 */
function spanSources(target: RehearsalTarget, traffic: PodTraffic): SpanSource[] {
  const bounds = target.spanmetrics.bucketBounds;
  const unit = (ms: number) => ms / target.spanmetrics.msPerUnit;
  const work = workEndpoints(target);
  const fastShare = target.userMix.filter((m) => !work.includes(m)).reduce((s, m) => s + m.share, 0);
  const workShare = 1 - fastShare;
  const body = Math.max(0, ...work.map((m) => m.endpoint.typicalLatency?.meanMs ?? 0)) || traffic.p95Ms;
  const cdfs = userLatencyDistribution(bounds, unit(traffic.p95Ms), fastShare, unit(body));
  const r = traffic.userRequestsPerSecond;
  const out: SpanSource[] = target.userMix.map((m) => (work.includes(m)
    ? { endpoint: m.endpoint, perSecond: r * m.share, errorShare: Math.min(1, traffic.errorRatio / workShare), cdf: cdfs.work, mean: unit(traffic.p95Ms * 0.85) }
    : steadySource(target, m.endpoint, r * m.share)));
  const internal = new Map<ServedEndpoint, number>();
  for (const m of target.userMix) {
    for (const call of m.calls) internal.set(call.endpoint, (internal.get(call.endpoint) ?? 0) + r * m.share * call.perRequest);
  }
  for (const [endpoint, perSecond] of internal) out.push(steadySource(target, endpoint, perSecond));
  return out;
}

/** Counts up to `t` of spans that started at `start` at `perSecond`: all, and failed. */
function countsAt(source: { perSecond: number; errorShare: number }, start: number, t: number): { all: number; failed: number } {
  if (t < start) return { all: 0, failed: 0 };
  return { all: Math.floor(source.perSecond * (t - start) + 1e-9), failed: Math.floor(source.perSecond * source.errorShare * (t - start) + 1e-9) };
}

/** Scrape times of a target with `phase`, from `from` to `to` (seconds, relative to the analysis start). */
function scrapeTimes(phase: number, interval: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.ceil((from - phase) / interval - 1e-9) * interval + phase; t <= to; t += interval) out.push(Math.round(t * 1000) / 1000);
  return out;
}

/** Appends the samples of one series to its family. */
type Write = (name: string, labels: Labels, samples: readonly (readonly [number, number])[]) => void;

/** The labels of a scraped series: exposed labels that clash become `exported_*` unless honoured, else they win. */
function scraped(target: RehearsalTarget, targetLabels: Labels, exposed: Labels): Labels {
  const out: Labels = { ...targetLabels };
  for (const [k, v] of Object.entries(exposed)) out[target.prometheus.exposedLabel(k, Object.keys(targetLabels))] = v;
  return out;
}

interface PodSpec {
  readonly name: string;
  readonly hash: string;
  readonly traffic: PodTraffic;
  /** when it started serving (seconds, relative to the analysis start) */
  readonly start: number;
  /** when Prometheus first has it as a target */
  readonly discoveredAt: number;
  readonly scrapePhase: number;
}

/** The pod's own request counter, as scraped: every server span it serves, by span name, and Prometheus's scrapes when it traces them. */
function writeCounter(target: RehearsalTarget, req: CounterRequestSeries, port: { name: string; number: number }, pod: PodSpec, sources: readonly SpanSource[], to: number, write: Write): void {
  const w = target.workload;
  const s = target.prometheus.scrapeSeconds;
  const podLabels = { ...w.podLabels, [w.hashPodLabel]: pod.hash };
  const targetLabels = target.prometheus.targetLabelValues({
    namespace: target.namespace, pod: pod.name, node: 'node-1', container: w.container, port, workload: w.name, podLabels, podTargetLabels: [w.hashPodLabel],
  });
  const times = scrapeTimes(pod.scrapePhase, s, Math.max(pod.discoveredAt, -lookbackSeconds(target)), to);
  if (times.length === 0) return;
  // Prometheus's own scrapes: the span of a scrape ends after its response, so scrape k sees k - 1.
  const firstScrape = scrapeTimes(pod.scrapePhase, s, pod.discoveredAt, pod.discoveredAt + s)[0];
  const metricsCount = (t: number) => Math.max(0, Math.round((t - firstScrape) / s));
  const all: { endpoint: string; value: (t: number) => { ok: number; failed: number } | undefined }[] = sources.map((src) => ({
    endpoint: src.endpoint.spanName,
    value: (t: number) => {
      const c = countsAt(src, pod.start, t);
      return c.all > 0 ? { ok: c.all - c.failed, failed: c.failed } : undefined; // the endpoint is first seen with its first request
    },
  }));
  if (target.scrapeSpan) all.push({ endpoint: target.scrapeSpan.spanName, value: (t) => (metricsCount(t) > 0 ? { ok: metricsCount(t), failed: 0 } : undefined) });
  for (const e of all) {
    for (const failed of [false, true]) {
      const samples = times.map((t) => [t, e.value(t)] as const).filter(([, v]) => v !== undefined).map(([t, v]) => [t, failed ? v!.failed : v!.ok] as const);
      if (samples.length === 0) continue;
      write(req.metric, scraped(target, targetLabels, { [req.endpointLabel]: e.endpoint, [req.errorLabel]: failed ? req.errorValue : 'false' }), samples);
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
function writeSpanmetrics(target: RehearsalTarget, pod: PodSpec, sources: readonly SpanSource[], run: CollectorRun, exportDelay: number, to: number, write: Write): void {
  const sm = target.spanmetrics;
  const [serviceLabel, spanNameLabel, spanKindLabel, statusLabel] = sm.series.intrinsicLabels;
  const c = target.collector;
  const targetLabels = target.prometheus.targetLabelValues({
    namespace: c.namespace, pod: run.pod, node: 'node-1', container: c.name, port: { name: c.scrapePortName, number: c.scrapePort }, workload: c.name, podLabels: c.podLabels,
  });
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
  const les = [...sm.bucketBounds.map(String), '+Inf'];
  // Prometheus's scrapes of the pod, when the app traces them: one span per scrape interval from its discovery
  const scrapes = target.scrapeSpan && target.workload.metricsPort ? steadySource(target, target.scrapeSpan, 1 / target.prometheus.scrapeSeconds) : undefined;
  for (const src of scrapes ? [...sources, scrapes] : sources) {
    const start = src === scrapes ? pod.discoveredAt : pod.start;
    for (const failed of [false, true]) {
      // spans counted by this run as of its last flush before t: those that reached it in (from, flush]
      const count = (t: number): number | undefined => {
        const flush = lastFlush(t);
        if (flush === undefined) return undefined;
        const upTo = Math.min(flush, run.until) - exportDelay;
        const at = countsAt(src, start, upTo);
        const before = countsAt(src, start, run.from - exportDelay);
        const n = failed ? at.failed - before.failed : at.all - at.failed - (before.all - before.failed);
        return n > 0 ? n : undefined;
      };
      const values = times.map((t) => [t, count(t)] as const).filter(([, v]) => v !== undefined) as [number, number][];
      if (values.length === 0) continue;
      const base = scraped(target, targetLabels, {
        [serviceLabel]: src.endpoint.service, [spanNameLabel]: src.endpoint.spanName, [spanKindLabel]: SPAN_KIND_SERVER,
        [statusLabel]: failed ? SPANMETRICS_STATUS.error : SPANMETRICS_STATUS.unset, ...dims,
      });
      write(sm.series.calls, base, values);
      write(sm.series.durationCount, base, values);
      write(sm.series.durationSum, base, values.map(([t, v]) => [t, v * src.mean]));
      les.forEach((le, k) => {
        if (src.cdf[k] === 0) return; // a bucket that stays 0 adds nothing to any sum
        write(sm.series.durationBucket, { ...base, le }, values.map(([t, v]) => [t, Math.round(v * src.cdf[k])]));
      });
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
  const writeCounterOf = (pod: PodSpec, sources: readonly SpanSource[]) => {
    if (req.kind === 'counter' && port) writeCounter(target, req, port, pod, sources, to, write);
  };
  const random = randomSource(hashNumber(`${placed.stableHash}/stable-phases`));
  const s = target.prometheus.scrapeSeconds;
  const stableSources = spanSources(target, scenario.stable);
  const stableRun: CollectorRun = { pod: 'collector-stable', from: -1e9, until: Infinity, flushPhase: random() * target.spanmetrics.flushSeconds, firstFlush: -1e9, scrapedFrom: -1e9, scrapePhase: random() * s };
  for (let k = 0; k < target.pods.stable; k++) {
    const pod: PodSpec = { name: `${target.workload.name}-${placed.stableHash}-s${k}`, hash: placed.stableHash, traffic: scenario.stable, start: -3600, discoveredAt: -3600, scrapePhase: random() * s };
    writeCounterOf(pod, stableSources);
    if (scenario.disruption !== Disruption.NO_SPANMETRICS) writeSpanmetrics(target, pod, stableSources, stableRun, 0, to, write);
  }
  const canarySources = spanSources(target, scenario.canary);
  for (const trial of placed.trials) {
    const p = trial.phases;
    for (let k = 0; k < target.pods.canary; k++) {
      const pod: PodSpec = { name: `${target.workload.name}-${trial.canaryHash}-c${k}`, hash: trial.canaryHash, traffic: scenario.canary, start: 0, discoveredAt: p.discovery, scrapePhase: p.canaryScrapePhase };
      writeCounterOf(pod, canarySources);
      if (scenario.disruption === Disruption.NO_SPANMETRICS) continue;
      const collector = `collector-${trial.canaryHash.slice(0, 5)}`;
      // Its collector has run for long: it is a known target, and its flush phase is its own.
      const first: CollectorRun = { pod: collector, from: -1e9, until: p.restart?.at ?? Infinity, flushPhase: p.flushPhase, firstFlush: -1e9, scrapedFrom: -1e9, scrapePhase: p.collectorScrapePhase };
      writeSpanmetrics(target, pod, canarySources, first, p.exportDelay, to, write);
      if (p.restart) {
        const up = p.restart.at + COLLECTOR_RESTART_GAP_SECONDS;
        // The new pod's connector starts its flush ticker with it; it is a new scrape target.
        writeSpanmetrics(target, pod, canarySources, { pod: `${collector}-r`, from: up, until: Infinity, flushPhase: up, firstFlush: up + target.spanmetrics.flushSeconds, scrapedFrom: up + p.restart.discovery, scrapePhase: p.restart.scrapePhase },
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
  const write: Write = (name, labels, samples) => {
    if (keep && !keep(name, labels)) return;
    let lines = families.get(name);
    if (!lines) families.set(name, lines = []);
    const selector = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
    for (const [t, v] of samples) lines.push(`${selector} ${v} ${(placed.origin + t).toFixed(3)}`);
  };
  writeScenario(target, placed, horizon, write);
  // a scenario may have no series at all (a spanmetrics-only service whose spanmetrics are gone)
  if (families.size === 0) return '';
  return `${[...families.values()].flat().join('\n')}\n# EOF\n`;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
