/**
 * How names change on their way into Prometheus.
 *
 * Two paths matter to the gates:
 * - OTel metrics leave the collector through the `prometheus` exporter, which rewrites
 *   names (namespace prefix, `.` -> `_`, unit and `_total` suffixes) and attribute keys;
 * - pod labels become series labels through Prometheus's pod scrape (`relabel_configs`
 *   with `labelmap`), which rewrites every character Prometheus does not allow to `_`.
 *
 * These functions work on plain values so the same rules name what the constructs
 * synthesize and what a hand-written collector config would produce.
 */

/** Unit suffixes the prometheus exporter appends (the subset spanmetrics can emit). */
const UNIT_SUFFIXES: Record<string, string> = {
  ms: 'milliseconds',
  s: 'seconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
};

/** The OTel metric types whose Prometheus names differ. */
export enum OtelMetricType {
  /** a monotonic sum: gets `_total` */
  MONOTONIC_SUM = 'monotonic-sum',
  /** a histogram: series are `_bucket`, `_sum` and `_count` of the base name */
  HISTOGRAM = 'histogram',
  /** a gauge: no type suffix */
  GAUGE = 'gauge',
}

/** Replaces every run of characters Prometheus does not allow in a metric name with one `_`. */
export function sanitizeMetricName(name: string): string {
  const parts = name.split(/[^a-zA-Z0-9:]+/).filter((p) => p.length > 0);
  const joined = parts.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/**
 * Turns an OTel attribute key (or a Kubernetes pod label) into a Prometheus label name:
 * every character outside `[a-zA-Z0-9_]` becomes `_`, a leading digit gets a `key_` prefix.
 */
export function sanitizeLabelName(key: string): string {
  const replaced = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(replaced) ? `key_${replaced}` : replaced;
}

/** The metric name the prometheus exporter gives an OTel metric (with `add_metric_suffixes` on, the default). */
export function prometheusMetricName(options: {
  readonly name: string;
  readonly unit?: string;
  readonly type: OtelMetricType;
  /** the prometheus exporter's own `namespace` setting, if any */
  readonly exporterNamespace?: string;
}): string {
  const words = [options.exporterNamespace, options.name].filter((w): w is string => !!w && w.length > 0);
  let name = sanitizeMetricName(words.join('_'));
  const unitSuffix = options.unit ? UNIT_SUFFIXES[options.unit] : undefined;
  if (unitSuffix && !name.endsWith(`_${unitSuffix}`)) {
    name = `${name}_${unitSuffix}`;
  }
  if (options.type === OtelMetricType.MONOTONIC_SUM && !name.endsWith('_total')) {
    name = `${name}_total`;
  }
  return name;
}

/** The label Prometheus's pod scrape gives a pod label (`labelmap` of `__meta_kubernetes_pod_label_(.+)`). */
export function podLabelToPrometheusLabel(podLabel: string): string {
  return sanitizeLabelName(podLabel);
}

/** The pod annotations Prometheus's pod scrape reads. */
export const SCRAPE_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
} as const;

/** The labels Prometheus puts on every scraped series, whatever the job. */
export const TARGET_LABELS = ['job', 'instance'] as const;

/** The label that carries a histogram bucket's upper bound on `_bucket` series. */
export const BUCKET_LABEL = 'le';

/**
 * A bucket bound as the Prometheus text format writes it in `le`: Go's shortest `%g`
 * (prometheus/common expfmt/text_create.go writeFloat: strconv.AppendFloat(f, 'g', -1, 64)),
 * which switches to an exponent from 1e+06 on (strconv/ftoa.go: `eprec = 6` for the shortest form).
 */
export function bucketBoundText(bound: number): string {
  if (!Number.isFinite(bound)) return bound > 0 ? '+Inf' : bound < 0 ? '-Inf' : 'NaN';
  if (bound === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(bound)));
  if (exp >= -4 && exp < 6) return String(bound);
  const [mantissa, e] = bound.toExponential().split('e');
  const n = Number(e);
  return `${mantissa}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
}

/**
 * The `le` values a bucket bound can have in Prometheus: as the exporter wrote it
 * ({@link bucketBoundText}), or as Prometheus 3 normalizes it on ingestion, in the OpenMetrics
 * form with `.0` on a whole number (prometheus/prometheus model/textparse
 * normalizeFloatsInLabelValues and formatOpenMetricsFloat @ v3.0.0; `le="1000"` is stored as
 * `le="1000.0"`). Prometheus 2 keeps the text as scraped, which an OpenMetrics scrape writes in the
 * second form too.
 */
export function bucketBoundValues(bound: number): string[] {
  const text = bucketBoundText(bound);
  const openMetrics = /^[-+]?\d+$/.test(text) ? `${text}.0` : text;
  return [...new Set([text, openMetrics])];
}

/** The path Prometheus scrapes when a pod has no `prometheus.io/path` annotation. */
export const SCRAPE_DEFAULT_PATH = '/metrics';

/** The pod annotations that ask Prometheus to scrape `port` at `path`. */
export function scrapeAnnotations(port: number, path: string): Record<string, string> {
  return {
    [SCRAPE_ANNOTATIONS.scrape]: 'true',
    [SCRAPE_ANNOTATIONS.port]: String(port),
    [SCRAPE_ANNOTATIONS.path]: path,
  };
}
