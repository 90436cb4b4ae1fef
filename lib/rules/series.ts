import { imageFacts } from '../image-facts';
import { PROMETHEUS_EXPORTER_PATH } from '../collector-config';
import { BUCKET_LABEL, podLabelToPrometheusLabel, sanitizeLabelName, SCRAPE_ANNOTATIONS, SCRAPE_DEFAULT_PATH, SCRAPE_NAMESPACE_LABEL, SCRAPE_POD_LABEL, TARGET_LABELS } from '../prometheus-naming';
import { collectorsOf } from './collector-model';
import { list } from './define';
import { scrapedPorts } from './collector-pod';
import { asObj, ManifestModel, PodTemplate } from './model';

/** A series name Prometheus gets from the manifests, with every label it can carry. */
export interface ProducedSeries {
  readonly name: string;
  readonly labels: ReadonlySet<string>;
  /** whether it may carry labels no manifest names (resource attributes turned into labels) */
  readonly openLabels: boolean;
  /** who produces it, for messages */
  readonly sources: readonly string[];
}

/** What Prometheus will hold, as far as the manifests say. */
export interface SeriesCatalog {
  readonly series: ReadonlyMap<string, ProducedSeries>;
  /** producers whose series never reach Prometheus, and why */
  readonly unscraped: readonly string[];
}

/** The labels Prometheus's pod scrape adds to every series of a pod (prometheus-community chart). */
function scrapeLabels(pod: PodTemplate): string[] {
  return [
    ...TARGET_LABELS,
    SCRAPE_NAMESPACE_LABEL,
    SCRAPE_POD_LABEL,
    ...[...Object.keys(pod.labels), ...pod.controllerLabels].map(podLabelToPrometheusLabel),
  ];
}

function isScrapedAt(pod: PodTemplate, port: number | undefined, path: string): boolean {
  const annotatedPath = pod.annotations[SCRAPE_ANNOTATIONS.path] ?? SCRAPE_DEFAULT_PATH;
  return port !== undefined && annotatedPath === path && scrapedPorts(pod.annotations, pod.containers).includes(port);
}

const CATALOGS = new WeakMap<ManifestModel, SeriesCatalog>();

/**
 * The series the manifests put into Prometheus: spanmetrics series of every collector whose
 * prometheus exporter is scraped, and the metrics of known images (HotROD's counter) on
 * scraped pods, each with the labels the producer and the pod scrape give them.
 */
export function seriesCatalog(model: ManifestModel): SeriesCatalog {
  const cached = CATALOGS.get(model);
  if (cached) return cached;
  const series = new Map<string, { name: string; labels: Set<string>; openLabels: boolean; sources: string[] }>();
  const unscraped: string[] = [];
  const add = (name: string, labels: readonly string[], source: string, openLabels = false) => {
    const entry = series.get(name) ?? { name, labels: new Set<string>(), openLabels: false, sources: [] };
    labels.forEach((l) => entry.labels.add(l));
    entry.openLabels ||= openLabels;
    if (!entry.sources.includes(source)) entry.sources.push(source);
    series.set(name, entry);
  };

  for (const collector of collectorsOf(model)) {
    for (const exported of collector.exportedSpanmetrics()) {
      const source = `connector ${exported.connectorId} -> exporter ${exported.exporterId} of ConfigMap ${collector.ref.namespace}/${collector.ref.name}`;
      const pods = collector.pods.map((p) => p.pod).filter((pod) => isScrapedAt(pod, exported.port, PROMETHEUS_EXPORTER_PATH));
      if (pods.length === 0) {
        unscraped.push(`${source} serves ${exported.series.calls} on port ${exported.port ?? '?'}, but no pod running it is scraped there`);
        continue;
      }
      const s = exported.series;
      const exporter = collector.config.configOf('exporters', exported.exporterId);
      const constLabels = Object.keys(asObj(exporter.const_labels)).map(sanitizeLabelName);
      // Every resource attribute becomes a label: which ones, only the apps know.
      const openLabels = asObj(exporter.resource_to_telemetry_conversion).enabled === true;
      const labels = [...s.intrinsicLabels, ...Object.values(s.dimensionLabels), ...constLabels, ...pods.flatMap(scrapeLabels)];
      for (const name of [s.calls, s.durationSum, s.durationCount]) add(name, labels, source, openLabels);
      add(s.durationBucket, [...labels, BUCKET_LABEL], source, openLabels);
    }
  }

  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const metrics = imageFacts(container.image)?.metrics;
      if (!metrics) continue;
      const source = `${pod.ref.kind} ${pod.namespace}/${pod.ref.name} (${container.image})`;
      if (!isScrapedAt(pod, metrics.port, metrics.path)) {
        unscraped.push(`${source} serves ${list(metrics.series.map((x) => x.name))} at :${metrics.port}${metrics.path}, but its pod is not scraped there `
          + `(${SCRAPE_ANNOTATIONS.scrape}: ${pod.annotations[SCRAPE_ANNOTATIONS.scrape] ?? '-'}, ${SCRAPE_ANNOTATIONS.port}: ${pod.annotations[SCRAPE_ANNOTATIONS.port] ?? '-'}, ${SCRAPE_ANNOTATIONS.path}: ${pod.annotations[SCRAPE_ANNOTATIONS.path] ?? '-'})`);
        continue;
      }
      for (const s of metrics.series) add(s.name, [...s.labels, ...scrapeLabels(pod)], source);
    }
  }
  const catalog = { series, unscraped };
  CATALOGS.set(model, catalog);
  return catalog;
}
