import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Dashboard, DashboardBuilder, DatasourceVariableBuilder, CustomVariableBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { GateKind } from '../model/gates';
import { GRAFANA_DASHBOARD_LABEL } from '../platform/grafana';
import { arg, CANARY_HASH_ARG, NAMESPACE_ARG, STABLE_HASH_ARG } from '../platform/argo';
import { errorBudget, errorRatioRecord, Slo, SloKind, SLO_LABELS, SRE_WORKBOOK_WINDOWS, burnRate } from '../platform/slo';
import { Gate, selector } from './canary-analysis';
import { Matchers } from './interfaces';
import { ISloTarget, serviceMatchers, serviceSeries } from './slo-alerts';

/*
 * The canary dashboard, built with @grafana/grafana-foundation-sdk 0.0.21 (typed builders; its
 * Dashboard is schemaVersion 42): one per environment, a `service` variable, and for the service
 * chosen its canary against its stable pods, each gate's statistic over time with its bounds, and
 * its SLOs' burn rates. Every query is made from the series the gates and the SLO rules read.
 */

/** The Grafana variables the dashboard's queries use in place of the gates' arguments. */
export const DASHBOARD_VARIABLES = { datasource: 'datasource', service: 'service', canary: 'canary', stable: 'stable' } as const;

/** A gate query with the analysis arguments replaced by the dashboard's variables. */
export function dashboardQuery(gateQuery: string): string {
  return gateQuery
    .split(arg(NAMESPACE_ARG)).join(`$${DASHBOARD_VARIABLES.service}`)
    .split(arg(CANARY_HASH_ARG)).join(`$${DASHBOARD_VARIABLES.canary}`)
    .split(arg(STABLE_HASH_ARG)).join(`$${DASHBOARD_VARIABLES.stable}`);
}


/** One service the dashboard shows. */
export interface DashboardService {
  /** the service (its name is its namespace) */
  readonly target: ISloTarget;
  /** its gates, as rendered */
  readonly gates: readonly Gate[];
  /** its SLOs */
  readonly slos: readonly Slo[];
}

/** Properties of a {@link CanaryDashboard}. */
export interface CanaryDashboardProps {
  /** the environment (the title and uid name it) */
  readonly environment: string;
  /** the services, in the order of the `service` variable */
  readonly services: readonly DashboardService[];
  /** the ConfigMap's name @default 'canary-dashboard' */
  readonly name?: string;
  /** the labels Grafana's dashboard sidecar selects ConfigMaps by @default GRAFANA_DASHBOARD_LABEL */
  readonly sidecarLabels?: Readonly<Record<string, string>>;
}

const DATASOURCE = { type: 'prometheus', uid: `\${${DASHBOARD_VARIABLES.datasource}}` };

/** The panel titles, each once: tests and the preview name them. */
export const PANELS = {
  requestRate: 'Request rate: canary against stable',
  errorRatio: 'Error ratio: canary against stable',
  latency: 'Latency quantiles: canary against stable',
  counted: 'Requests counted by the canary (traffic gate)',
  statistics: 'Gate statistics over time (log-likelihood ratio; stops above the upper bound, promotes below the lower)',
  burn: 'SLO burn rate (1h and 6h windows; 14.4x and 6x page)',
} as const;

/**
 * A Grafana dashboard of one environment's canaries, as a ConfigMap Grafana's dashboard sidecar
 * loads. Each panel draws the gate's threshold (or its test's bounds) as a series of its own.
 */
export class CanaryDashboard extends Construct {
  /** the dashboard, as the SDK built it */
  public readonly dashboard: Dashboard;
  /** the ConfigMap that carries it */
  public readonly configMap: kplus.ConfigMap;
  /** the key of the dashboard's JSON in the ConfigMap */
  public readonly fileName: string;

  constructor(scope: Construct, id: string, props: CanaryDashboardProps) {
    super(scope, id);
    if (props.services.length === 0) throw new Error('CanaryDashboard: services is empty; give the services to show');
    const v = DASHBOARD_VARIABLES;
    const services = props.services;
    let ref = 0;
    const query = (expr: string, legend: string) => new DataqueryBuilder().expr(expr).legendFormat(legend).refId(`Q${ref++}`).datasource(DATASOURCE).range();
    // a constant line, drawn only while the service it belongs to is chosen
    const guarded = (value: number, service: DashboardService) => `${num(value)} and on() count(${serviceSeries(service.target, `$${v.service}`).requests})`;
    const panel = (title: string, unit: string) => new TimeseriesPanel().title(title).datasource(DATASOURCE).unit(unit).lineWidth(2).fillOpacity(5)
      .overrideByRegexp('/threshold|bound|page/', [
        { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
        { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
      ]);
    // the label that carries the pod-template hash on a service's request series and on its spans
    const hashLabelOf = (s: DashboardService) => hashLabel(s.target.requests.matchers);
    const spanHashOf = (s: DashboardService) => hashLabel(s.target.canarySpans);
    const rate = (sel: string) => `rate(${sel}[$__rate_interval])`;

    const requestRate = panel(PANELS.requestRate, 'reqps');
    const errorRatio = panel(PANELS.errorRatio, 'percentunit');
    const latency = panel(PANELS.latency, 'ms');
    const counted = panel(PANELS.counted, 'short');
    const statistics = panel(PANELS.statistics, 'short');
    const burn = panel(PANELS.burn, 'short');
    for (const s of services) {
      const series = serviceSeries(s.target, `$${v.service}`);
      const hash = hashLabelOf(s);
      const by = `sum by (${hash})`;
      requestRate.withTarget(query(`${by} (${rate(series.requests)})`, `{{${hash}}}`));
      errorRatio.withTarget(query(`(${by} (${rate(series.failedRequests)}) or ${by} (${rate(series.requests)}) * 0)\n/\n${by} (${rate(series.requests)})`, `{{${hash}}}`));
      const spanHash = spanHashOf(s);
      const bucket = s.target.pipeline.series.durationBucket;
      const spans = serviceMatchers(s.target.canarySpans, `$${v.service}`);
      const bucketSel = selector(bucket, spans);
      for (const q of [0.5, 0.95, 0.99]) {
        latency.withTarget(query(`histogram_quantile(${q}, sum by (le, ${spanHash}) (${rate(bucketSel)}))`, `p${q * 100} {{${spanHash}}}`));
      }
      for (const g of s.gates) {
        const q = dashboardQuery(g.query);
        if (g.kind === GateKind.TRAFFIC) {
          counted.withTarget(query(q, `${g.name} (canary $${v.canary})`));
          counted.withTarget(query(guarded(g.threshold, s), `threshold ${g.name}: ${num(g.threshold)} requests`));
          continue;
        }
        statistics.withTarget(query(q, g.name));
        if (g.design) {
          statistics.withTarget(query(guarded(g.design.test.upperBound, s), `upper bound ${g.name} (stop)`));
          statistics.withTarget(query(guarded(g.design.test.lowerBound, s), `lower bound ${g.name} (promote)`));
        }
        if (g.kind === GateKind.ERROR_RATE) errorRatio.withTarget(query(guarded(g.threshold, s), `threshold ${g.name}`));
        // a latency gate's threshold is its bound, in the histogram's unit (ms by default)
        if (g.kind === GateKind.LATENCY) latency.withTarget(query(guarded(g.threshold, s), `threshold ${g.name}`));
      }
      for (const slo of s.slos) {
        const own = `${SLO_LABELS.service}="$${v.service}", ${SLO_LABELS.slo}="${slo.kind}", ${SLO_LABELS.namespace}="${s.target.namespace}"`;
        for (const w of SRE_WORKBOOK_WINDOWS.filter((row) => row.severity === 'page')) {
          burn.withTarget(query(`${errorRatioRecord(w.longWindow)}{${own}} / ${num(errorBudget(slo))}`, `${slo.kind} ${w.longWindow.toHours()}h burn rate`));
        }
      }
    }
    const pages = SRE_WORKBOOK_WINDOWS.filter((row) => row.severity === 'page');
    for (const w of pages) {
      const rateValue = burnRate(w, services[0].slos[0].window);
      burn.withTarget(query(`${num(rateValue)} and on() count(${services.map((s) => `${errorRatioRecord(w.longWindow)}{${SLO_LABELS.service}="$${v.service}", ${SLO_LABELS.slo}="${SloKind.AVAILABILITY}", ${SLO_LABELS.namespace}="${s.target.namespace}"}`).join(' or ')})`, `page at ${num(rateValue)}x`));
    }

    // the hashes of the chosen service's pods, whatever label its series carry them in
    const hashes = services.map((s) => {
      const label = hashLabelOf(s);
      return `label_replace(group by (${label}) (${serviceSeries(s.target, `$${v.service}`).requests}), "hash", "$1", "${label}", "(.*)")`;
    }).join(' or ');
    const hashVariable = (name: string, label: string) => new QueryVariableBuilder(name).label(label).datasource(DATASOURCE)
      .query(`query_result(${hashes})`).regex('/hash="([^"]+)"/').refresh(VariableRefresh.OnTimeRangeChanged);

    const W = 12;
    const H = 8;
    this.dashboard = new DashboardBuilder(`Canaries: ${props.environment}`)
      .uid(`canaries-${props.environment}`.slice(0, 40))
      .tags(['canary', 'slo', props.environment])
      .refresh('30s')
      .time({ from: 'now-3h', to: 'now' })
      .withVariable(new DatasourceVariableBuilder(v.datasource).label('Prometheus').type('prometheus'))
      .withVariable(new CustomVariableBuilder(v.service).label('service').values(services.map((s) => s.target.name).join(',')))
      .withVariable(hashVariable(v.canary, 'canary pod-template hash'))
      .withVariable(hashVariable(v.stable, 'stable pod-template hash'))
      .withRow(new RowBuilder('Canary against stable'))
      .withPanel(requestRate.gridPos({ x: 0, y: 1, w: W, h: H }))
      .withPanel(errorRatio.gridPos({ x: W, y: 1, w: W, h: H }))
      .withPanel(latency.gridPos({ x: 0, y: 1 + H, w: W, h: H }))
      .withPanel(counted.gridPos({ x: W, y: 1 + H, w: W, h: H }))
      .withRow(new RowBuilder('Gates'))
      .withPanel(statistics.gridPos({ x: 0, y: 2 + 2 * H, w: 2 * W, h: H }))
      .withRow(new RowBuilder('SLOs'))
      .withPanel(burn.gridPos({ x: 0, y: 3 + 3 * H, w: 2 * W, h: H }))
      .build();

    this.fileName = `canaries-${props.environment}.json`;
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name ?? 'canary-dashboard', labels: { ...(props.sidecarLabels ?? GRAFANA_DASHBOARD_LABEL) } },
      data: { [this.fileName]: `${JSON.stringify(this.dashboard, null, 1)}\n` },
    });
  }
}

/** The label a set of gate matchers selects the canary's pod-template hash by. */
function hashLabel(matchers: Matchers): string {
  let label = '';
  serviceMatchers(matchers, '', (l) => { label = l; });
  return label;
}

function num(n: number): string {
  return Number(n.toPrecision(12)).toString();
}
