import { App, Chart, Testing } from 'cdk8s';
import { join } from 'path';
import { defineApp, StackOptions, stackOptions } from '../main';
import { CanaryRollout, CanaryRolloutProps, GateSpec, hotrodWorkload, WorkloadProps, HotrodAppSet, OtelCollectorDaemonSet, PrometheusBackend, SpanmetricsPipeline, SpanmetricsPipelineProps, ThreeGateAnalysis, ThreeGateAnalysisProps, TrafficGenerator } from '../lib';

/** A plain synthesized object. */
export type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

/**
 * The app in main.ts, built in memory: only for the checks that the committed dist/ and the
 * README follow it. Library tests use {@link fixtureStack}, so a threshold or tag changed in
 * main.ts breaks nothing else.
 */
export function defaultStack(options: StackOptions = stackOptions(join(__dirname, '..'))) {
  const app = Testing.app();
  const stack = defineApp(app, options);
  return { app, ...stack };
}

/** The objects of a chart, as they would be written. */
export function synth(chart: Chart): Obj[] {
  return Testing.synth(chart) as Obj[];
}

/** The one object of a kind (and name) in a list. */
export function find(objects: Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, found ${found.length}`);
  return found[0];
}

/**
 * A small stack wired like the default app, with overridable props for each construct,
 * so a test can change one source and watch what follows from it.
 */
export function wiredStack(opts: {
  prometheus?: PrometheusBackend;
  pipeline?: SpanmetricsPipelineProps;
  rollout?: Partial<CanaryRolloutProps>;
  gates?: Partial<ThreeGateAnalysisProps>;
} = {}) {
  const app: App = Testing.app();
  const otel = new Chart(app, 'otel', { namespace: 'otel' });
  const hotrod = new Chart(app, 'hotrod', { namespace: 'hotrod' });
  const pipeline = new SpanmetricsPipeline(otel, 'Pipeline', opts.pipeline);
  const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline, prometheus: opts.prometheus });
  const rollout = new CanaryRollout(hotrod, 'HotROD', { collector, name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }), ...opts.rollout });
  const gates = rollout.useAnalysis(new ThreeGateAnalysis(hotrod, 'Gates', { rollout, ...opts.gates }));
  return { app, otel, hotrod, pipeline, collector, rollout, gates };
}

/** The query of a gate in a synthesized AnalysisTemplate. */
export function gateQuery(template: Obj, metric: string): string {
  const m = template.spec.metrics.find((x: any) => x.name === metric);
  if (!m) throw new Error(`no metric ${metric}`);
  return m.provider.prometheus.query;
}

/**
 * The whole stack as the library builds it with its own defaults (not main.ts's settings):
 * pipeline, collector, rollout and gates as {@link wiredStack}, plus the traffic generator and the
 * ApplicationSet, one chart per namespace.
 */
export function fixtureStack(opts: Parameters<typeof wiredStack>[0] & { repoUrl?: string; revision?: string } = {}) {
  const wired = wiredStack(opts);
  const traffic = new Chart(wired.app, 'traffic-generator', { namespace: 'traffic-generator' });
  const argocd = new Chart(wired.app, 'argocd', { namespace: 'argocd' });
  const generator = new TrafficGenerator(traffic, 'Generator', { target: wired.rollout });
  const appSet = new HotrodAppSet(argocd, 'AppSet', { apps: [wired.otel, wired.hotrod, traffic], repoUrl: opts.repoUrl, revision: opts.revision });
  return { ...wired, charts: { otel: wired.otel, hotrod: wired.hotrod, traffic, argocd }, generator, appSet };
}

/** The fixture stack written to a folder as a synth writes it; returns the folder. */
export function fixtureFolder(opts: Parameters<typeof fixtureStack>[0] = {}): string {
  const { app } = fixtureStack(opts);
  app.synth();
  return app.outdir;
}

/** The checkout service of the fixtures: any service, spanmetrics only (no metrics port, no counter), two user endpoints. */
export const CHECKOUT_WORKLOAD: WorkloadProps = {
  image: 'ghcr.io/acme/checkout:2.3.0',
  ports: [{ name: 'http', number: 9000 }],
  endpoints: [
    { spanName: 'GET /cart', caller: 'user', urls: ['/cart'] },
    { spanName: 'POST /checkout', caller: 'user', urls: ['/checkout'] },
  ],
};

/**
 * A spanmetrics-only service (the checkout fixture) with the three-gate preset and its traffic
 * generator, in namespace `checkout`, beside its own pipeline and collector or a given stack's.
 */
export function checkoutStack(opts: { app?: App; collector?: OtelCollectorDaemonSet; prometheus?: PrometheusBackend; gates?: Partial<ThreeGateAnalysisProps>; extraGates?: GateSpec[] } = {}) {
  const app: App = opts.app ?? Testing.app();
  let collector = opts.collector;
  if (!collector) {
    const otel = new Chart(app, 'otel', { namespace: 'otel' });
    collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline: new SpanmetricsPipeline(otel, 'Pipeline'), prometheus: opts.prometheus });
  }
  const chart = new Chart(app, 'checkout', { namespace: 'checkout' });
  const rollout = new CanaryRollout(chart, 'Checkout', { collector, workload: CHECKOUT_WORKLOAD });
  const gates = rollout.useAnalysis(new ThreeGateAnalysis(chart, 'Gates', { rollout, ...opts.gates }));
  // before the generator: its rate is derived from the gates' evidence
  for (const g of opts.extraGates ?? []) gates.addGate(g);
  const traffic = new Chart(app, 'checkout-traffic', { namespace: 'checkout-traffic' });
  const generator = new TrafficGenerator(traffic, 'Generator', { target: rollout });
  return { app, collector, pipeline: collector.pipeline, rollout, gates, generator };
}

/** A folder with the two services of the fixtures, as a synth writes it: HotROD (counter) and checkout (spanmetrics only), one collector. */
export function twoServiceFolder(): string {
  const stack = fixtureStack();
  checkoutStack({ app: stack.app, collector: stack.collector });
  stack.app.synth();
  return stack.app.outdir;
}
