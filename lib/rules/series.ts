import { imageFacts } from '../presets/images';
import { PROMETHEUS_EXPORTER_PATH } from '../platform/collector-config';
import { POD_MONITOR_TARGET_LABELS, PodScrape } from '../platform/metrics-backend';
import { BUCKET_LABEL, podLabelToPrometheusLabel, sanitizeLabelName, SCRAPE_ANNOTATIONS, SCRAPE_DEFAULT_PATH, TARGET_LABELS } from '../platform/prometheus-naming';
import { collectorsOf } from './collector-model';
import { list } from './define';
import { scrapedPorts } from './collector-pod';
import { asArr, asObj, asStr, asStrMap, ManifestModel, PodTemplate } from './model';

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

/** How Prometheus scrapes one port of a pod: where, with which target labels, and whether it honours exposed labels. */
interface PodScrapeTarget {
  readonly port: number;
  readonly path: string;
  /** the labels the scrape sets on every series */
  readonly targetLabels: readonly string[];
  readonly honorLabels: boolean;
}

/**
 * The scrapes of a pod: by its `prometheus.io/*` annotations when the Prometheus scrapes
 * annotated pods (labels as the backend's pod job sets them), and by every PodMonitor of the
 * manifests that selects it (labels as prometheus-operator sets them: `namespace`, `pod`,
 * `container`, `endpoint`, `job`, `instance` and its `podTargetLabels`).
 */
function scrapesOf(model: ManifestModel, pod: PodTemplate): PodScrapeTarget[] {
  const prometheus = model.prometheus;
  const podLabels = [...Object.keys(pod.labels), ...pod.controllerLabels];
  const out: PodScrapeTarget[] = [];
  if (prometheus.podScrape === PodScrape.ANNOTATIONS) {
    const path = pod.annotations[SCRAPE_ANNOTATIONS.path] ?? SCRAPE_DEFAULT_PATH;
    for (const port of scrapedPorts(pod.annotations, pod.containers)) {
      out.push({ port, path, targetLabels: prometheus.targetLabels(podLabels), honorLabels: prometheus.honorLabels });
    }
  }
  for (const monitor of podMonitorsOf(model).filter((m) => m.namespace === pod.namespace && selects(m.selector, pod.labels))) {
    for (const endpoint of monitor.endpoints) {
      const port = pod.containers.flatMap((c) => c.ports).find((p) => p.name === endpoint.port)?.containerPort;
      if (port === undefined) continue;
      // prometheus-operator's target labels (operator-managed setups name namespace and pod as these)
      const targetLabels = [...TARGET_LABELS, 'namespace', 'pod', ...POD_MONITOR_TARGET_LABELS, ...monitor.podTargetLabels.filter((l) => podLabels.includes(l)).map(podLabelToPrometheusLabel)];
      out.push({ port, path: endpoint.path, targetLabels, honorLabels: endpoint.honorLabels });
    }
  }
  return out;
}

interface PodMonitorInfo {
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly endpoints: readonly { readonly port?: string; readonly path: string; readonly honorLabels: boolean }[];
  readonly podTargetLabels: readonly string[];
}

const POD_MONITORS = new WeakMap<ManifestModel, PodMonitorInfo[]>();

/** The PodMonitors of the manifests (monitoring.coreos.com/v1), read once per model. */
function podMonitorsOf(model: ManifestModel): PodMonitorInfo[] {
  let monitors = POD_MONITORS.get(model);
  if (!monitors) {
    monitors = model.manifests.filter((m) => m.object.kind === 'PodMonitor').map((m) => {
      const spec = asObj((m.object as { spec?: unknown }).spec);
      return {
        namespace: model.namespaceOf(m),
        selector: asStrMap(asObj(spec.selector).matchLabels),
        endpoints: asArr(spec.podMetricsEndpoints).map((e) => ({
          port: asStr(asObj(e).port),
          path: asStr(asObj(e).path) ?? SCRAPE_DEFAULT_PATH,
          honorLabels: asObj(e).honorLabels === true,
        })),
        podTargetLabels: asArr(spec.podTargetLabels).map((l) => asStr(l)).filter((l): l is string => l !== undefined),
      };
    });
    POD_MONITORS.set(model, monitors);
  }
  return monitors;
}

function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The labels a series exposed with `exposed` labels carries once scraped: clashing exposed labels become `exported_*` unless honoured. */
function scrapedLabels(exposed: readonly string[], scrape: PodScrapeTarget): string[] {
  const renamed = exposed.map((l) => (!scrape.honorLabels && scrape.targetLabels.includes(l) ? `exported_${l}` : l));
  return [...scrape.targetLabels, ...renamed];
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
      const scrapes = collector.pods.map((p) => p.pod).flatMap((pod) => scrapesOf(model, pod)).filter((x) => x.port === exported.port && x.path === PROMETHEUS_EXPORTER_PATH);
      if (scrapes.length === 0) {
        unscraped.push(`${source} serves ${exported.series.calls} on port ${exported.port ?? '?'}, but no pod running it is scraped there`);
        continue;
      }
      const s = exported.series;
      const exporter = collector.config.configOf('exporters', exported.exporterId);
      const constLabels = Object.keys(asObj(exporter.const_labels)).map(sanitizeLabelName);
      // Every resource attribute becomes a label: which ones, only the apps know.
      const openLabels = asObj(exporter.resource_to_telemetry_conversion).enabled === true;
      const exposed = [...s.intrinsicLabels, ...Object.values(s.dimensionLabels), ...constLabels];
      for (const scrape of scrapes) {
        for (const name of [s.calls, s.durationSum, s.durationCount]) add(name, scrapedLabels(exposed, scrape), source, openLabels);
        add(s.durationBucket, scrapedLabels([...exposed, BUCKET_LABEL], scrape), source, openLabels);
      }
    }
  }

  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const metrics = imageFacts(container.image)?.metrics;
      if (!metrics) continue;
      const source = `${pod.ref.kind} ${pod.namespace}/${pod.ref.name} (${container.image})`;
      const scrapes = scrapesOf(model, pod).filter((x) => x.port === metrics.port && x.path === metrics.path);
      if (scrapes.length === 0) {
        unscraped.push(`${source} serves ${list(metrics.series.map((x) => x.name))} at :${metrics.port}${metrics.path}, but its pod is not scraped there `
          + `(${SCRAPE_ANNOTATIONS.scrape}: ${pod.annotations[SCRAPE_ANNOTATIONS.scrape] ?? '-'}, ${SCRAPE_ANNOTATIONS.port}: ${pod.annotations[SCRAPE_ANNOTATIONS.port] ?? '-'}, ${SCRAPE_ANNOTATIONS.path}: ${pod.annotations[SCRAPE_ANNOTATIONS.path] ?? '-'})`);
        continue;
      }
      for (const scrape of scrapes) {
        for (const s of metrics.series) add(s.name, scrapedLabels(s.labels, scrape), source);
      }
    }
  }
  const catalog = { series, unscraped };
  CATALOGS.set(model, catalog);
  return catalog;
}
