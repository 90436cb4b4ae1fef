import { formatEstimate, HIGH_CARDINALITY_ATTRIBUTES } from '../analysis/cardinality';
import { seriesEstimateOf } from '../model/cardinality';
import { readPromql } from '../analysis/promql';
import { collectorsOf, componentType, PlainCollectorConfig } from '../model/collectors';
import { canaries } from '../model/rollouts';
import { SAMPLING_PROCESSOR_TYPES } from '../platform/collector-config';
import { GRAFANA_DASHBOARD_LABEL } from '../platform/grafana';
import { defineRules } from './define';
import { Severity } from './types';

/** The spanmetrics series one service may add before `collector/spanmetrics-series-budget` warns. */
export const SERIES_BUDGET_PER_SERVICE = 10_000;

/** A Grafana query as PromQL: its range variables replaced by a duration. */
export function grafanaQueryAsPromql(expr: string): string {
  return expr.replace(/\$\{?__(rate_)?interval\}?/g, '5m');
}

/** Whether a traces pipeline's spans reach a spanmetrics connector: directly, or through connectors into other traces pipelines. */
function reachesSpanmetrics(c: PlainCollectorConfig, pipelineId: string, seen = new Set<string>()): boolean {
  if (seen.has(pipelineId)) return false;
  seen.add(pipelineId);
  const p = c.pipelines.find((x) => x.id === pipelineId);
  if (!p) return false;
  const connectors = new Set(c.ids('connectors'));
  for (const e of p.exporters.filter((x) => connectors.has(x))) {
    if (componentType(e) === 'spanmetrics') return true;
    for (const next of c.pipelines.filter((x) => x.signal === 'traces' && x.receivers.includes(e))) {
      if (reachesSpanmetrics(c, next.id, seen)) return true;
    }
  }
  return false;
}

/**
 * What keeps production signals honest: spanmetrics sees every span (no sampling ahead of it), its
 * dimensions stay bounded, and the dashboards and rules shipped beside the gates can be read.
 */
export const OBSERVABILITY_RULES = defineRules({
  'collector/sampling-before-spanmetrics': 'no sampling processor drops spans ahead of a spanmetrics connector (every gate would count only the kept traces)',
  'collector/high-cardinality-dimension': 'no spanmetrics dimension is an attribute with unbounded values (user id, full URL, trace id, client address)',
  'collector/spanmetrics-series-budget': `each service adds at most ${SERIES_BUDGET_PER_SERVICE} spanmetrics series (span names x status codes x pods of a rollout in flight x buckets)`,
  'dashboard/unreadable': 'a ConfigMap labelled for Grafana\'s dashboard sidecar holds dashboard JSON whose panel queries parse as PromQL',
  'alerts/promql-syntax': 'every expr of a PrometheusRule parses as PromQL',
  'alerts/unrouted': 'every alert of a PrometheusRule carries a severity label (the routes match on it)',
}, (model, report) => {
  for (const collector of collectorsOf(model)) {
    const c = collector.config;
    const key = `config key '${collector.found.key}'`;
    const connectors = new Set(c.ids('connectors'));
    for (const p of c.pipelines.filter((x) => x.signal === 'traces')) {
      const samplers = p.processors.filter((id) => (SAMPLING_PROCESSOR_TYPES as readonly string[]).includes(componentType(id)));
      if (samplers.length > 0 && reachesSpanmetrics(c, p.id)) {
        report('collector/sampling-before-spanmetrics', Severity.ERROR, collector.ref,
          `${key}: pipeline '${p.id}' samples with ${samplers.join(', ')} and feeds spanmetrics (${p.exporters.filter((e) => connectors.has(e)).join(', ')}): the gates would count only the traces the sampler keeps, so every error ratio and latency quantile is biased`,
          `move the sampler to a pipeline of its own that exports only to the trace backend (SpanmetricsPipeline's tailSampling does), and keep spanmetrics on an unsampled traces pipeline`);
      }
    }
    for (const id of c.ids('connectors').filter((x) => componentType(x) === 'spanmetrics')) {
      const dims = c.configOf('connectors', id).dimensions;
      for (const d of Array.isArray(dims) ? dims : []) {
        const name = typeof d === 'object' && d !== null ? (d as { name?: unknown }).name : undefined;
        if (typeof name === 'string' && HIGH_CARDINALITY_ATTRIBUTES[name]) {
          report('collector/high-cardinality-dimension', Severity.ERROR, collector.ref,
            `${key}: connector '${id}' has dimension '${name}', ${HIGH_CARDINALITY_ATTRIBUTES[name]}: every value becomes new series of the calls counter and of each histogram bucket, which the connector keeps until the collector restarts`,
            `remove '${name}' from the dimensions; look such values up in the traces instead (tail sampling keeps every error and slow trace)`);
        }
      }
    }
  }
  for (const canary of canaries(model)) {
    const estimate = seriesEstimateOf(canary);
    if (estimate && estimate.total > SERIES_BUDGET_PER_SERVICE) {
      report('collector/spanmetrics-series-budget', Severity.WARNING, canary.ref, `${formatEstimate(canary.id, estimate)}, above ${SERIES_BUDGET_PER_SERVICE}`,
        'fewer buckets, fewer replicas per rollout, or span names without ids (a route template, not the URL)');
    }
  }
  const dashboardLabel = Object.entries(GRAFANA_DASHBOARD_LABEL)[0];
  for (const m of model.ofKind('ConfigMap').filter((x) => x.object.metadata?.labels?.[dashboardLabel[0]] === dashboardLabel[1])) {
    const ref = model.refOf(m);
    for (const [file, text] of Object.entries((m.object as { data?: Record<string, unknown> }).data ?? {})) {
      let dashboard: { panels?: { title?: string; targets?: { expr?: string }[] }[] };
      try {
        dashboard = JSON.parse(String(text)) as typeof dashboard;
      } catch (e) {
        report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}' is not JSON (${(e as Error).message}): Grafana's sidecar loads nothing from it`, 'write the dashboard\'s JSON model, e.g. from @grafana/grafana-foundation-sdk\'s DashboardBuilder');
        continue;
      }
      if (!Array.isArray(dashboard.panels)) {
        report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}' has no panels list: not a Grafana dashboard`, 'write the dashboard\'s JSON model with its panels');
        continue;
      }
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) {
          if (typeof t.expr !== 'string') continue;
          const error = readPromql(grafanaQueryAsPromql(t.expr)).error;
          if (error) {
            report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}', panel '${panel.title ?? '?'}': the query does not parse as PromQL near '${error.near}' (line ${error.line}, column ${error.column})`, 'fix the query');
          }
        }
      }
    }
  }
  for (const m of model.ofKind('PrometheusRule')) {
    const ref = model.refOf(m);
    const groups = ((m.object as { spec?: { groups?: { name?: string; rules?: { alert?: string; record?: string; expr?: unknown; labels?: Record<string, string> }[] }[] } }).spec?.groups) ?? [];
    for (const g of groups) {
      for (const r of g.rules ?? []) {
        const what = r.alert ? `alert '${r.alert}'` : `record '${r.record}'`;
        const error = readPromql(String(r.expr ?? '')).error;
        if (error) report('alerts/promql-syntax', Severity.ERROR, ref, `group '${g.name}', ${what}: expr does not parse near '${error.near}' (line ${error.line}, column ${error.column}); the operator's admission webhook refuses the object`, 'fix the expression (promtool check rules tells the same)');
        if (r.alert && !r.labels?.severity) report('alerts/unrouted', Severity.WARNING, ref, `group '${g.name}', ${what} has no severity label, so no page or ticket route matches it`, 'label it severity: page or severity: ticket');
      }
    }
  }
});
