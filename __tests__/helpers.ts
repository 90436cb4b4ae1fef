import { App, Chart, Testing } from 'cdk8s';
import { defineApp, StackOptions } from '../main';
import { CanaryRollout, CanaryRolloutProps, OtelCollectorDaemonSet, PrometheusBackend, SpanmetricsPipeline, SpanmetricsPipelineProps, ThreeGateAnalysis, ThreeGateAnalysisProps } from '../lib';

/** A plain synthesized object. */
export type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

/** The default app, built in memory. */
export function defaultStack(options: StackOptions = {}) {
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
  const rollout = new CanaryRollout(hotrod, 'HotROD', { collector, ...opts.rollout });
  const gates = rollout.useAnalysis(new ThreeGateAnalysis(hotrod, 'Gates', { pipeline, rollout, ...opts.gates }));
  return { app, otel, hotrod, pipeline, collector, rollout, gates };
}

/** The query of a gate in a synthesized AnalysisTemplate. */
export function gateQuery(template: Obj, metric: string): string {
  const m = template.spec.metrics.find((x: any) => x.name === metric);
  if (!m) throw new Error(`no metric ${metric}`);
  return m.provider.prometheus.query;
}
