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

/**
 * What Grafana's global time variables stand for, so that a query holding them parses: a duration,
 * or one in milliseconds or seconds (Grafana's docs, "Global variables"; the Prometheus data source
 * leaves `$__interval` and `$__interval_ms` for its backend to fill: grafana/grafana
 * packages/grafana-prometheus/src/datasource.ts `applyTemplateVariables`).
 */
const STAND_IN_SECONDS = 300;
const STAND_IN_DURATION = `${STAND_IN_SECONDS}s`;
const GRAFANA_TIME_VARIABLES: Readonly<Record<string, string>> = {
  __interval: STAND_IN_DURATION, __rate_interval: STAND_IN_DURATION, __range: STAND_IN_DURATION,
  __interval_ms: String(STAND_IN_SECONDS * 1000), __range_ms: String(STAND_IN_SECONDS * 1000), __range_s: String(STAND_IN_SECONDS),
};

/**
 * A reference to a Grafana template variable: `$name`, `${name}` (also `${name.field}` and
 * `${name:format}`) or the older `[[name]]` / `[[name:format]]` (the syntax grafana/grafana
 * public/app/features/variables/utils.ts matches with `variableRegex`). Grafana replaces each
 * before the query reaches Prometheus.
 */
const GRAFANA_VARIABLE = /\$\{(\w+)[^}]*\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)/g;

/** A Grafana query as PromQL: its global time variables replaced by what they stand for. */
export function grafanaQueryAsPromql(expr: string): string {
  return expr.replace(GRAFANA_VARIABLE, (whole, braced?: string, bracketed?: string, plain?: string) => GRAFANA_TIME_VARIABLES[braced ?? bracketed ?? plain ?? ''] ?? whole);
}

/** A string literal of PromQL (it may hold a variable: Grafana fills it, and it parses as it is), or a variable outside one. */
const LITERAL_OR_VARIABLE = new RegExp(`"(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*'|\`[^\`]*\`|${GRAFANA_VARIABLE.source}`, 'g');

/**
 * Whether a dashboard query does not parse as PromQL, and where: judged after Grafana's time
 * variables are filled, and every other variable outside a string stands for a duration where
 * one goes (in brackets, after `offset`) and for a name elsewhere. A query that still does not
 * parse with variables in it is not judged: what they hold (part of a selector, a list of labels)
 * is the dashboard user's choice.
 */
export function grafanaQueryError(expr: string): { near: string; line: number; column: number } | undefined {
  const promql = grafanaQueryAsPromql(expr);
  let variables = 0;
  const filled = promql.replace(LITERAL_OR_VARIABLE, (m: string, ...rest: unknown[]) => {
    if (m[0] === '"' || m[0] === "'" || m[0] === '`') return m;
    variables++;
    const before = promql.slice(0, rest[rest.length - 2] as number);
    return /(?:\[|:|\boffset)\s*$/.test(before) ? STAND_IN_DURATION : 'grafana_variable';
  });
  const error = readPromql(filled).error;
  return error && variables === 0 ? error : undefined;
}

/** A dashboard's panels, those in rows too (a collapsed row holds its own; a dashboard older than schema 16 keeps them under `rows`). */
function dashboardPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  const flat = (panels: unknown): GrafanaPanel[] => (Array.isArray(panels) ? panels.filter((p): p is GrafanaPanel => typeof p === 'object' && p !== null).flatMap((p) => [p, ...flat(p.panels)]) : []);
  return [...flat(dashboard.panels), ...(Array.isArray(dashboard.rows) ? dashboard.rows.flatMap((r) => flat(r?.panels)) : [])];
}

type GrafanaDatasource = string | { type?: unknown; uid?: unknown } | null | undefined;
interface GrafanaTarget { expr?: unknown; hide?: unknown; datasource?: GrafanaDatasource }
interface GrafanaPanel { title?: unknown; panels?: unknown; datasource?: GrafanaDatasource; targets?: unknown }
interface GrafanaDashboard { panels?: unknown; rows?: { panels?: unknown }[] }

/** The PromQL a panel sends: the targets of a Prometheus data source (or one of unknown type) that Grafana runs, i.e. neither hidden nor empty (grafana/grafana packages/grafana-prometheus/src/datasource.ts `filterQuery`). */
function promqlTargets(panel: GrafanaPanel): string[] {
  const typeOf = (d: GrafanaDatasource) => (typeof d === 'object' && d !== null && typeof d.type === 'string' ? d.type : undefined);
  return (Array.isArray(panel.targets) ? panel.targets as GrafanaTarget[] : [])
    .filter((t) => typeof t === 'object' && t !== null && t.hide !== true && typeof t.expr === 'string' && t.expr.trim() !== '')
    .filter((t) => {
      // a target's own data source, else its panel's unless that is "-- Mixed --" (type 'datasource'); a name or none: the default, Prometheus here
      const panelType = typeOf(panel.datasource);
      const type = typeOf(t.datasource) ?? (panelType === 'datasource' ? undefined : panelType);
      return type === undefined || type === 'prometheus';
    })
    .map((t) => t.expr as string);
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
    // the sidecar writes every key to a file; Grafana's file provisioning reads only names ending in .json
    // (grafana/grafana pkg/services/provisioning/dashboards/file_reader.go validateWalkablePath)
    for (const [file, text] of Object.entries((m.object as { data?: Record<string, unknown> }).data ?? {}).filter(([f]) => f.endsWith('.json'))) {
      let dashboard: GrafanaDashboard;
      try {
        dashboard = JSON.parse(String(text)) as GrafanaDashboard;
      } catch (e) {
        report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}' is not JSON (${(e as Error).message}): Grafana's sidecar loads nothing from it`, 'write the dashboard\'s JSON model, e.g. from @grafana/grafana-foundation-sdk\'s DashboardBuilder');
        continue;
      }
      if (typeof dashboard !== 'object' || dashboard === null || (!Array.isArray(dashboard.panels) && !Array.isArray(dashboard.rows))) {
        report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}' has no panels list: not a Grafana dashboard`, 'write the dashboard\'s JSON model with its panels');
        continue;
      }
      const broken = dashboardPanels(dashboard).flatMap((panel) => promqlTargets(panel).flatMap((expr) => {
        const error = grafanaQueryError(expr);
        return error ? [`panel '${String(panel.title ?? '?')}' near '${error.near}' (line ${error.line}, column ${error.column})`] : [];
      }));
      if (broken.length > 0) {
        report('dashboard/unreadable', Severity.ERROR, ref, `data '${file}': ${broken.length === 1 ? 'a panel query does' : `${broken.length} panel queries do`} not parse as PromQL; ${broken.join('; ')}`, 'fix the queries; Grafana shows those panels empty');
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
