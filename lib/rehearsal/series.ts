import { HOTROD_IMAGE } from '../image-facts';
import { createHash } from 'crypto';
import { podLabelToPrometheusLabel, SCRAPE_NAMESPACE_LABEL, SCRAPE_POD_LABEL } from '../prometheus-naming';
import { PodTraffic, Scenario } from './scenarios';
import { PodField, RehearsalTarget } from './target';

/**
 * The synthetic series of each scenario, as Prometheus would have stored them:
 *
 * - HotROD's request counter is scraped from every HotROD pod every {@link TIMING.scrapeSeconds},
 *   with the scrape's target labels (namespace, pod, every pod label, job, instance); a series
 *   exists from the scrape after its first increment, as client libraries create it then;
 * - the spanmetrics counters and histogram are scraped from the collector pod on the HotROD pod's
 *   node, with the collector pod's target labels; they only change when the connector flushes
 *   (every flush interval, per collector), so most scrapes repeat the previous value;
 * - the stable pods have served for an hour; the canary pods start serving when the AnalysisRun
 *   starts (t = 0), which is when Argo Rollouts begins the analysis step: right after the canary
 *   pods became available.
 *
 * Every scenario gets its own stretch of time, far enough from the others that no rate() window
 * or lookback reaches into a neighbour, so one TSDB serves all of them.
 */

/** The timing model, in seconds. */
export const TIMING = {
  /** Prometheus's scrape interval for both jobs */
  scrapeSeconds: 15,
  /** when, within a scrape interval, HotROD pods and collector pods are scraped */
  hotrodScrapeOffset: 5,
  collectorScrapeOffset: 10,
  /** how long the stable pods have been serving when the analysis starts */
  stableAgeSeconds: 3600,
  /** the series written before the analysis starts */
  historySeconds: 600,
  /** the flush phase of the stable pods' collector and the canary pods' collector (they run on different nodes) */
  stableFlushPhase: 0,
  /** the canary's first spans are flushed this long after it starts serving */
  canaryFlushPhase: 30,
  /** the first scenario's analysis start: 2025-01-01T00:00:00Z plus the history */
  epochSeconds: 1735689600,
} as const;

/** Labels Prometheus sets on every scraped series: the job and the scraped address. */
const JOB_LABEL = 'job';
const INSTANCE_LABEL = 'instance';
/** The job name of the prometheus-community chart's annotation-driven pod scrape. */
const POD_SCRAPE_JOB = 'kubernetes-pods';

/** The HotROD endpoint, span and service the synthetic traffic hits (values only; names come from the target). */
const ENDPOINT = '/dispatch';
const SPAN = { service: 'frontend', name: 'HTTP GET /dispatch', kind: 'SPAN_KIND_SERVER', ok: 'STATUS_CODE_UNSET', error: 'STATUS_CODE_ERROR' };

/** One pod of a scenario, with its identity. */
export interface SyntheticPod {
  readonly name: string;
  readonly hash: string;
  readonly node: string;
  readonly traffic: PodTraffic;
  /** seconds (relative to the analysis start) the pod started serving */
  readonly startedAt: number;
  readonly flushPhase: number;
}

/** A scenario placed in time, with its pods and the values its arguments take. */
export interface PlacedScenario {
  readonly scenario: Scenario;
  /** the Unix time of the analysis start */
  readonly origin: number;
  readonly canaryHash: string;
  readonly stableHash: string;
  readonly pods: readonly SyntheticPod[];
}

/** How long (seconds) the rehearsal may need data after the analysis start, from the gates' timings. */
export function horizonSeconds(target: RehearsalTarget): number {
  return Math.max(...target.gates.map((g) => {
    const step = Math.max(g.intervalSeconds, 10);
    // every counted measurement may be preceded by up to consecutiveErrorLimit retried errors
    return g.initialDelaySeconds + (g.count + (g.count + 1) * g.consecutiveErrorLimit) * step;
  })) + 60;
}

/** Places every scenario in its own stretch of time, with its pods. */
export function placeScenarios(target: RehearsalTarget, scenarios: readonly Scenario[]): PlacedScenario[] {
  const slot = Math.ceil((TIMING.historySeconds + horizonSeconds(target) + 900) / 3600) * 3600;
  return scenarios.map((scenario, i) => {
    const canaryHash = podTemplateHash(`${scenario.name}/canary`);
    const stableHash = podTemplateHash(`${scenario.name}/stable`);
    const pods: SyntheticPod[] = [];
    const add = (side: 'stable' | 'canary', n: number, hash: string, traffic: PodTraffic, startedAt: number, flushPhase: number) => {
      for (let k = 0; k < n; k++) {
        pods.push({ name: `hotrod-${hash}-${podTemplateHash(`${scenario.name}/${side}/${k}`).slice(0, 5)}`, hash, node: `${side}-${k}`, traffic, startedAt, flushPhase });
      }
    };
    add('stable', target.pods.stable, stableHash, scenario.stable, -TIMING.stableAgeSeconds, TIMING.stableFlushPhase);
    add('canary', target.pods.canary, canaryHash, scenario.canary, 0, TIMING.canaryFlushPhase);
    return { scenario, origin: TIMING.epochSeconds + TIMING.historySeconds + i * slot, canaryHash, stableHash, pods };
  });
}

/** A pod-template hash as Kubernetes writes them (safe-encoded), derived from a seed so runs are reproducible. */
function podTemplateHash(seed: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...createHash('sha256').update(seed).digest()].slice(0, 10).map((b) => alphabet[b % alphabet.length]).join('');
}

type Labels = Record<string, string>;

/** The labels of a series scraped from a pod: the target's labels win, clashing exposed ones become `exported_<name>`. */
function scraped(target: Labels, exposed: Labels): Labels {
  const out: Labels = { ...target };
  for (const [k, v] of Object.entries(exposed)) out[k in target ? `exported_${k}` : k] = v;
  return out;
}

function scrapeTargetLabels(namespace: string, pod: string, podLabels: Labels, port: string): Labels {
  const out: Labels = { [JOB_LABEL]: POD_SCRAPE_JOB, [INSTANCE_LABEL]: `${pod}:${port}`, [SCRAPE_NAMESPACE_LABEL]: namespace, [SCRAPE_POD_LABEL]: pod };
  for (const [k, v] of Object.entries(podLabels)) out[podLabelToPrometheusLabel(k)] = v;
  return out;
}

/** Requests a pod served up to `t`, split into failed and the rest. */
function served(pod: SyntheticPod, t: number): { ok: number; failed: number } {
  if (t < pod.startedAt) return { ok: 0, failed: 0 };
  const total = Math.floor(pod.traffic.requestsPerSecond * (t - pod.startedAt));
  const failed = Math.floor(pod.traffic.requestsPerSecond * pod.traffic.errorRatio * (t - pod.startedAt));
  return { ok: total - failed, failed };
}

/**
 * The cumulative share of spans at or below each bound (the last entry is +Inf) so that
 * `histogram_quantile(0.95, ...)` interpolates exactly to `p95`: most spans are fast, the rest
 * sit in the bucket that holds p95 (and, if needed to place it, the next one).
 */
export function latencyDistribution(bounds: readonly number[], p95: number): number[] {
  const j = bounds.findIndex((b) => b >= p95);
  if (j <= 0) {
    throw new Error(`cannot model a p95 of ${p95}: it must lie above the first bucket bound (${bounds[0]}) and at most the last (${bounds[bounds.length - 1]})`);
  }
  const lo = bounds[j - 1];
  const r = (p95 - lo) / (bounds[j] - lo);
  const [a, b] = r < 0.5 ? [(0.95 - r) / (1 - r), 1] : [0.9, 0.9 + 0.05 / r];
  const fast = Math.min(j - 1, Math.max(0, bounds.findIndex((x) => x >= p95 / 10)));
  return [...bounds.map((_, k) => (k < fast ? 0 : k < j ? a : k === j ? b : 1)), 1];
}

/** One series: its name, labels and a sample per scrape (undefined while it does not exist). */
interface SeriesWriter {
  (name: string, labels: Labels, valueAt: (scrapeTime: number) => number | undefined, scrapeOffset: number): void;
}

/** The series of one placed scenario. */
function writeScenario(target: RehearsalTarget, placed: PlacedScenario, write: SeriesWriter): void {
  const req = target.requests;
  const sm = target.spanmetrics;
  const [serviceLabel, spanNameLabel, spanKindLabel, statusLabel] = sm.series.intrinsicLabels;
  for (const pod of placed.pods) {
    const podLabels = { ...req.podLabels, [req.hashPodLabel]: pod.hash };
    const hotrodTarget = scrapeTargetLabels(target.namespace, pod.name, podLabels, String(HOTROD_IMAGE.metrics.port));
    for (const failed of [false, true]) {
      const labels = scraped(hotrodTarget, { endpoint: ENDPOINT, [req.errorLabel]: failed ? req.errorValue : 'false' });
      write(req.metric, labels, (t) => {
        const n = served(pod, t);
        const v = failed ? n.failed : n.ok;
        return v > 0 ? v : undefined;
      }, TIMING.hotrodScrapeOffset);
    }
    if (!placed.scenario.spanmetrics) continue;

    const collectorPod = `collector-${podTemplateHash(`${placed.scenario.name}/${pod.node}`).slice(0, 5)}`;
    const collectorTarget = scrapeTargetLabels(target.collector.namespace, collectorPod, target.collector.podLabels, String(target.collector.scrapePort));
    const fields: Record<PodField, string> = { namespace: target.namespace, podName: pod.name, podTemplateHash: pod.hash };
    const dims: Labels = {};
    for (const d of sm.dimensions) {
      const value = d.from ? fields[d.from] : d.value;
      if (value !== undefined) dims[d.label] = value;
    }
    const cdf = latencyDistribution(sm.bucketBounds, pod.traffic.p95);
    // The value the exporter serves at a scrape: the counts as of the collector's last flush.
    const lastFlush = (t: number) => Math.floor((t - pod.flushPhase) / sm.flushSeconds) * sm.flushSeconds + pod.flushPhase;
    for (const failed of [false, true]) {
      const spans = (t: number) => {
        const n = served(pod, lastFlush(t));
        return failed ? n.failed : n.ok;
      };
      const base = scraped(collectorTarget, {
        [serviceLabel]: SPAN.service, [spanNameLabel]: SPAN.name, [spanKindLabel]: SPAN.kind, [statusLabel]: failed ? SPAN.error : SPAN.ok, ...dims,
      });
      const exists = (t: number) => spans(t) > 0;
      write(sm.series.calls, base, (t) => (exists(t) ? spans(t) : undefined), TIMING.collectorScrapeOffset);
      write(sm.series.durationCount, base, (t) => (exists(t) ? spans(t) : undefined), TIMING.collectorScrapeOffset);
      write(sm.series.durationSum, base, (t) => (exists(t) ? spans(t) * pod.traffic.p95 / 2 : undefined), TIMING.collectorScrapeOffset);
      const les = [...sm.bucketBounds.map(String), '+Inf'];
      les.forEach((le, k) => {
        write(sm.series.durationBucket, { ...base, le }, (t) => (exists(t) ? Math.round(spans(t) * cdf[k]) : undefined), TIMING.collectorScrapeOffset);
      });
    }
  }
}

/** The OpenMetrics text of all placed scenarios, for `promtool tsdb create-blocks-from openmetrics`. */
export function openMetrics(target: RehearsalTarget, placed: readonly PlacedScenario[]): string {
  const horizon = horizonSeconds(target);
  const families = new Map<string, string[]>();
  for (const p of placed) {
    const write: SeriesWriter = (name, labels, valueAt, offset) => {
      const lines = families.get(name) ?? [];
      families.set(name, lines);
      const selector = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
      const first = Math.ceil((-TIMING.historySeconds - offset) / TIMING.scrapeSeconds) * TIMING.scrapeSeconds + offset;
      for (let t = first; t <= horizon; t += TIMING.scrapeSeconds) {
        const v = valueAt(t);
        if (v !== undefined) lines.push(`${selector} ${v} ${p.origin + t}`);
      }
    };
    writeScenario(target, p, write);
  }
  return `${[...families.values()].flat().join('\n')}\n# EOF\n`;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
