import { PROMETHEUS_EXPORTER_PATH, SpanmetricsSeries } from '../platform/collector-config';
import { POD_MONITOR_TARGET_LABELS, PodScrape } from '../platform/metrics-backend';
import { BUCKET_LABEL, podLabelToPrometheusLabel, sanitizeLabelName, SCRAPE_ANNOTATIONS, SCRAPE_DEFAULT_PATH, TARGET_LABELS } from '../platform/prometheus-naming';
import { collectorsOf } from './collectors';
import { asArr, asObj, asStr, asStrMap, DeliveryModel, list, PodTemplate, scrapedPorts } from './model';
import { connectorInput, SpanSource, spanSources } from './span-sources';

/** A series name Prometheus gets from the manifests, with every label it can carry. */
export interface ProducedSeries {
  readonly name: string;
  readonly labels: ReadonlySet<string>;
  /** whether it may carry labels no manifest names (resource attributes turned into labels) */
  readonly openLabels: boolean;
  /** who produces it, for messages */
  readonly sources: readonly string[];
}

/** What the manifests produce of one series name for the pods of one namespace. */
export interface SeriesPlace {
  /** the span service names its series carry there; undefined when any may (not spans, or not known) */
  readonly services?: ReadonlySet<string>;
  /** whether they are spanmetrics */
  readonly spans: boolean;
  /** the labels that carry the namespace on them (a scrape's namespace label; a spanmetrics dimension fed from the pod's namespace) */
  readonly namespaceLabels: ReadonlySet<string>;
  /** for spanmetrics: the calls counter of the same connector, for fix hints */
  readonly calls?: string;
  /** the producers there, for messages */
  readonly sources: ReadonlySet<string>;
}

/**
 * Where the series are produced: an app's counter in the namespace of the pod that serves it,
 * spanmetrics in the namespace of each pod that exports spans to the collector, with their
 * service names. Lookups are by key.
 */
export interface SeriesPlaces {
  /** why series of this name may come from pods the manifests cannot place; undefined when all are placed */
  unplaced(metric: string): string | undefined;
  /** whether series of this name are spanmetrics */
  isSpanmetrics(metric: string): boolean;
  /** the labels that carry the producing pods' namespace on some series of this name */
  namespaceLabels(metric: string): ReadonlySet<string>;
  /** the labels that carry the span service name on series of this name */
  serviceLabels(metric: string): ReadonlySet<string>;
  /** the namespaces series of this name are produced for */
  namespacesOf(metric: string): readonly string[];
  /** what is produced of a series name for the pods of a namespace; undefined when nothing is */
  placeOf(metric: string, namespace: string): SeriesPlace | undefined;
  /** every series name produced for the pods of a namespace */
  producedIn(namespace: string): ReadonlyMap<string, SeriesPlace>;
}

/** What Prometheus will hold, as far as the manifests say. */
export interface SeriesCatalog {
  readonly series: ReadonlyMap<string, ProducedSeries>;
  /** producers whose series never reach Prometheus, and why */
  readonly unscraped: readonly string[];
  /** where each series is produced */
  readonly places: SeriesPlaces;
}

interface MutablePlace {
  services?: Set<string>;
  spans: boolean;
  namespaceLabels: Set<string>;
  calls?: string;
  sources: Set<string>;
}

/** A place to add: what one producer gives one series name in its namespace. */
interface PlaceInput {
  readonly namespaceLabels: readonly string[];
  /** undefined when any service name may be */
  readonly services?: readonly string[];
  readonly serviceLabels: readonly string[];
  readonly spans: boolean;
  readonly calls?: string;
  readonly source: string;
}

/** {@link SeriesPlaces}, filled while the catalog is read: every addition and lookup is by key. */
class PlaceIndex implements SeriesPlaces {
  private readonly byMetric = new Map<string, Map<string, MutablePlace>>();
  private readonly byNamespace = new Map<string, Map<string, MutablePlace>>();
  private readonly nsLabels = new Map<string, Set<string>>();
  private readonly svcLabels = new Map<string, Set<string>>();
  private readonly unplacedWhy = new Map<string, string>();
  private readonly spanNames = new Map<string, string>();
  private readonly hidden = new Map<string, readonly string[]>();
  /** places of spanmetrics in namespaces with hidden span senders, made on first lookup */
  private readonly hiddenPlaces = new Map<string, SeriesPlace>();

  public add(metric: string, namespace: string, p: PlaceInput): void {
    let inMetric = this.byMetric.get(metric);
    if (!inMetric) this.byMetric.set(metric, inMetric = new Map());
    let place = inMetric.get(namespace);
    if (!place) {
      place = { services: new Set(), spans: p.spans, namespaceLabels: new Set(), calls: p.calls, sources: new Set() };
      inMetric.set(namespace, place);
      let inNamespace = this.byNamespace.get(namespace);
      if (!inNamespace) this.byNamespace.set(namespace, inNamespace = new Map());
      inNamespace.set(metric, place);
    }
    if (!p.services) place.services = undefined;
    else if (place.services) p.services.forEach((x) => place!.services!.add(x));
    p.namespaceLabels.forEach((l) => place!.namespaceLabels.add(l));
    place.sources.add(p.source);
    addAll(this.nsLabels, metric, p.namespaceLabels);
    addAll(this.svcLabels, metric, p.serviceLabels);
    if (p.spans) this.spanNames.set(metric, p.calls ?? metric);
  }

  /** Series of this name may come from anywhere. */
  public unplace(metric: string, why: string): void {
    if (!this.unplacedWhy.has(metric)) this.unplacedWhy.set(metric, why);
  }

  /** A spanmetrics series name: known even before any pod is placed. */
  public spanmetrics(metric: string, calls: string): void {
    this.spanNames.set(metric, calls);
  }

  /** Containers of a namespace may send spans where the manifests do not show: any spanmetrics, of any service, may be produced for it. */
  public hide(namespace: string, containers: readonly string[]): void {
    this.hidden.set(namespace, containers);
  }

  public unplaced(metric: string): string | undefined {
    return this.unplacedWhy.get(metric);
  }

  public isSpanmetrics(metric: string): boolean {
    return this.spanNames.has(metric);
  }

  public namespaceLabels(metric: string): ReadonlySet<string> {
    return this.nsLabels.get(metric) ?? new Set();
  }

  public serviceLabels(metric: string): ReadonlySet<string> {
    return this.svcLabels.get(metric) ?? new Set();
  }

  public namespacesOf(metric: string): readonly string[] {
    return [...(this.byMetric.get(metric)?.keys() ?? [])].sort();
  }

  public placeOf(metric: string, namespace: string): SeriesPlace | undefined {
    const place = this.byMetric.get(metric)?.get(namespace);
    const hidden = this.spanNames.has(metric) ? this.hidden.get(namespace) : undefined;
    if (!hidden) return place;
    const key = `${metric}\u0000${namespace}`;
    let merged = this.hiddenPlaces.get(key);
    if (!merged) {
      const sources = new Set([...(place?.sources ?? []), ...hidden.map((c) => `${c}: spans sent where the manifests do not show`)]);
      merged = { spans: true, namespaceLabels: place?.namespaceLabels ?? new Set(), calls: this.spanNames.get(metric), sources };
      this.hiddenPlaces.set(key, merged);
    }
    return merged;
  }

  public producedIn(namespace: string): ReadonlyMap<string, SeriesPlace> {
    const out = new Map<string, SeriesPlace>(this.byNamespace.get(namespace) ?? []);
    if (this.hidden.has(namespace)) for (const metric of this.spanNames.keys()) out.set(metric, this.placeOf(metric, namespace)!);
    return out;
  }
}

function addAll(map: Map<string, Set<string>>, key: string, values: readonly string[]): void {
  let set = map.get(key);
  if (!set) map.set(key, set = new Set());
  values.forEach((v) => set!.add(v));
}

/** How Prometheus scrapes one port of a pod: where, with which target labels, and whether it honours exposed labels. */
export interface PodScrapeTarget {
  readonly port: number;
  readonly path: string;
  /** the labels the scrape sets on every series */
  readonly targetLabels: readonly string[];
  /** the target label that carries the pod's namespace */
  readonly namespaceLabel: string;
  readonly honorLabels: boolean;
}

/**
 * The scrapes of a pod: by its `prometheus.io/*` annotations when the Prometheus scrapes
 * annotated pods (labels as the backend's pod job sets them), and by every PodMonitor of the
 * manifests that selects it (labels as prometheus-operator sets them: `namespace`, `pod`,
 * `container`, `endpoint`, `job`, `instance` and its `podTargetLabels`).
 */
export function scrapesOf(model: DeliveryModel, pod: PodTemplate): PodScrapeTarget[] {
  const prometheus = model.prometheus;
  const podLabels = [...Object.keys(pod.labels), ...pod.controllerLabels];
  const out: PodScrapeTarget[] = [];
  if (prometheus.podScrape === PodScrape.ANNOTATIONS) {
    const path = pod.annotations[SCRAPE_ANNOTATIONS.path] ?? SCRAPE_DEFAULT_PATH;
    for (const port of scrapedPorts(pod.annotations, pod.containers)) {
      out.push({ port, path, targetLabels: prometheus.targetLabels(podLabels), namespaceLabel: prometheus.namespaceLabel, honorLabels: prometheus.honorLabels });
    }
  }
  for (const monitor of podMonitorsOf(model).filter((m) => m.namespace === pod.namespace && selects(m.selector, pod.labels))) {
    for (const endpoint of monitor.endpoints) {
      const port = pod.containers.flatMap((c) => c.ports).find((p) => p.name === endpoint.port)?.containerPort;
      if (port === undefined) continue;
      // prometheus-operator's target labels (operator-managed setups name namespace and pod as these)
      const targetLabels = [...TARGET_LABELS, POD_MONITOR_NAMESPACE_LABEL, 'pod', ...POD_MONITOR_TARGET_LABELS, ...monitor.podTargetLabels.filter((l) => podLabels.includes(l)).map(podLabelToPrometheusLabel)];
      out.push({ port, path: endpoint.path, targetLabels, namespaceLabel: POD_MONITOR_NAMESPACE_LABEL, honorLabels: endpoint.honorLabels });
    }
  }
  return out;
}

/** The target label prometheus-operator gives a PodMonitor's targets for the pod's namespace. */
const POD_MONITOR_NAMESPACE_LABEL = 'namespace';

interface PodMonitorInfo {
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly endpoints: readonly { readonly port?: string; readonly path: string; readonly honorLabels: boolean }[];
  readonly podTargetLabels: readonly string[];
}

const POD_MONITORS = new WeakMap<DeliveryModel, PodMonitorInfo[]>();

/** The PodMonitors of the manifests (monitoring.coreos.com/v1), read once per model. */
function podMonitorsOf(model: DeliveryModel): PodMonitorInfo[] {
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

/** The name an exposed label has once scraped: `exported_*` when it clashes with a target label the scrape does not let it override. */
function scrapedName(label: string, scrape: PodScrapeTarget): string {
  return !scrape.honorLabels && scrape.targetLabels.includes(label) ? `exported_${label}` : label;
}

/** The labels a series exposed with `exposed` labels carries once scraped: clashing exposed labels become `exported_*` unless honoured. */
function scrapedLabels(exposed: readonly string[], scrape: PodScrapeTarget): string[] {
  return [...scrape.targetLabels, ...exposed.map((l) => scrapedName(l, scrape))];
}

/**
 * The labels that carry a pod's namespace on series it has produced: the exposed ones (as the
 * scrape names them), and the scrape's namespace label when the scraped pod is in the same
 * namespace and no exposed label of that name overrides it.
 */
function namespaceLabelsOf(exposed: readonly string[], scrapes: readonly PodScrapeTarget[], scrapedNamespace: string, namespace: string): string[] {
  return [...new Set(scrapes.flatMap((scrape) => [
    ...exposed.map((l) => scrapedName(l, scrape)),
    ...(scrapedNamespace === namespace && !(scrape.honorLabels && exposed.includes(scrape.namespaceLabel)) ? [scrape.namespaceLabel] : []),
  ]))];
}

/**
 * The labels a span source's spanmetrics carry its namespace in: the dimensions (and, with
 * resource_to_telemetry_conversion, every resource attribute) whose attribute the pod sets to its
 * own namespace. Read from the collector configuration and the pod's OTEL_RESOURCE_ATTRIBUTES.
 */
function spanNamespaceLabels(source: SpanSource, dimensionLabels: Readonly<Record<string, string>>, allAttributes: boolean): string[] {
  const keys = [...(source.attributes ?? [])].filter(([, v]) => v === source.pod.namespace).map(([k]) => k);
  return [...keys.filter((k) => k in dimensionLabels).map((k) => dimensionLabels[k]), ...(allAttributes ? keys.map(sanitizeLabelName) : [])];
}

/** A span source, for messages: the pod, the container, and where its service names come from. */
function describeSource(source: SpanSource): string {
  return `${source.pod.ref.kind} ${source.pod.namespace}/${source.pod.ref.name} container '${source.container.name}' (${source.servicesFrom})`;
}

/**
 * Places a collector's spanmetrics: for every container that exports spans to it, in the
 * container's namespace, with its service names (unless a processor on the way may rename them);
 * nowhere known when spans may also come from elsewhere.
 */
function placeSpanmetrics(
  places: PlaceIndex,
  exported: { collector: string; s: SpanmetricsSeries; scrapesByPod: ReadonlyMap<PodTemplate, readonly PodScrapeTarget[]>; openLabels: boolean; source: string },
  sources: readonly SpanSource[],
  input: ReturnType<typeof connectorInput>,
): void {
  const { s, scrapesByPod } = exported;
  // one of each scrape shape: a sidecar configuration mounted in many pods is scraped alike in each
  const scrapes = [...new Map([...scrapesByPod.values()].flat().map((x) => [JSON.stringify(x), x])).values()];
  const names = [s.calls, s.durationBucket, s.durationSum, s.durationCount];
  names.forEach((n) => places.spanmetrics(n, s.calls));
  if (input.unknownOrigin) {
    names.forEach((n) => places.unplace(n, `${exported.source}: ${input.unknownOrigin}`));
    return;
  }
  const serviceLabels = [...new Set(scrapes.map((x) => scrapedName(s.intrinsicLabels[0], x)))];
  for (const source of sources) {
    const exposed = spanNamespaceLabels(source, s.dimensionLabels, exported.openLabels);
    // a sidecar's spans are scraped from its own pod; others from any pod of the collector
    const namespaceLabels = namespaceLabelsOf(exposed, scrapesByPod.get(source.pod) ?? scrapes, exported.collector, source.pod.namespace);
    const services = input.servicesKept ? source.services : undefined;
    for (const name of names) places.add(name, source.pod.namespace, { namespaceLabels, services, serviceLabels, spans: true, calls: s.calls, source: describeSource(source) });
  }
}

const CATALOGS = new WeakMap<DeliveryModel, SeriesCatalog>();

/**
 * The series the manifests put into Prometheus: spanmetrics series of every collector whose
 * prometheus exporter is scraped, and the metrics of known images (HotROD's counter) on
 * scraped pods, each with the labels the producer and the pod scrape give them.
 */
export function seriesCatalog(model: DeliveryModel): SeriesCatalog {
  const cached = CATALOGS.get(model);
  if (cached) return cached;
  const series = new Map<string, { name: string; labels: Set<string>; openLabels: boolean; sources: string[] }>();
  const unscraped: string[] = [];
  const places = new PlaceIndex();
  const sources = spanSources(model);
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
      const scrapesByPod = new Map(collector.pods.map(({ pod }) => [pod, scrapesOf(model, pod).filter((x) => x.port === exported.port && x.path === PROMETHEUS_EXPORTER_PATH)]));
      const scrapes = [...scrapesByPod.values()].flat();
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
      placeSpanmetrics(places, { collector: collector.ref.namespace ?? '', s, scrapesByPod, openLabels, source }, sources.byCollector.get(collector) ?? [], connectorInput(model, collector, exported.connectorId));
    }
  }
  for (const [namespace, containers] of sources.hidden) places.hide(namespace, containers);

  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const metrics = model.imageFacts(container.image)?.metrics;
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
      for (const s of metrics.series) {
        const namespaceLabels = namespaceLabelsOf([], scrapes.filter((x) => !(x.honorLabels && s.labels.includes(x.namespaceLabel))), pod.namespace, pod.namespace);
        places.add(s.name, pod.namespace, { namespaceLabels, serviceLabels: [], spans: false, source });
      }
    }
  }
  const catalog = { series, unscraped, places };
  CATALOGS.set(model, catalog);
  return catalog;
}
