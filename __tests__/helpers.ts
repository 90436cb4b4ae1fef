import { App, Chart, Testing } from 'cdk8s';
import {
  CanaryRollout, CanaryRolloutProps, Delivery, DeliveryProps, EnvironmentSpec, Finding, LoadedManifest, ModelOptions, OtelCollectorDaemonSet, PRESET_IMAGES,
  PrometheusBackend, RuleOptions, runRules, ServiceSpec, SpanmetricsPipeline, SpanmetricsPipelineProps, ThreeGateAnalysisOptions, WorkloadProps,
} from '../lib';
import { synthesizeInMemory } from '../lib/app/in-memory';
import { modelOptionsOf } from '../lib/app/run-synth';
import { explainModel, RolloutExplanation } from '../lib/explain/sources';
import { DeliveryModel, modelOf } from '../lib/model/model';
import { hotrodWorkload } from '../lib/presets/hotrod-workload';
import { targetsFromModel } from '../lib/rehearsal/from-model';
import { RehearsalTarget } from '../lib/rehearsal/target';

/** A plain synthesized object. */
export type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

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

/** The query of a gate in a synthesized AnalysisTemplate. */
export function gateQuery(template: Obj, metric: string): string {
  const m = template.spec.metrics.find((x: any) => x.name === metric);
  if (!m) throw new Error(`no metric ${metric}`);
  return m.provider.prometheus.query;
}

/** HotROD as the fixtures deliver it: the preset at 1.76.0, with the library's default gates. */
export const HOTROD: ServiceSpec = { name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) };

/** The checkout service of the fixtures: any service, spanmetrics only (no metrics port, no counter), two user endpoints. */
export const CHECKOUT_WORKLOAD: WorkloadProps = {
  image: 'ghcr.io/acme/checkout:2.3.0',
  ports: [{ name: 'http', number: 9000 }],
  endpoints: [
    { spanName: 'GET /cart', caller: 'user', urls: ['/cart'] },
    { spanName: 'POST /checkout', caller: 'user', urls: ['/checkout'], method: 'POST' },
  ],
};

/** Checkout as the fixtures deliver it. */
export const CHECKOUT: ServiceSpec = { name: 'checkout', workload: CHECKOUT_WORKLOAD };

/** Options of {@link fixtureDelivery}. */
export interface FixtureOptions {
  /** the Prometheus @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
  /** the pipeline's settings @default - its defaults */
  readonly pipeline?: SpanmetricsPipelineProps;
  /** the services @default [HOTROD] */
  readonly services?: readonly ServiceSpec[];
  /** further environment settings */
  readonly environment?: Partial<EnvironmentSpec>;
  readonly repoUrl?: DeliveryProps['repoUrl'];
  readonly revision?: DeliveryProps['revision'];
}

/**
 * A delivery built by the composition root with the library's own defaults (not main.ts's):
 * HotROD unless other services are given, in an environment named `test` whose Applications and
 * ApplicationSet keep the default app's names. Every fixture stack is one of these, so a test that
 * changes one setting watches what follows from it through the same wiring users get.
 */
export function fixtureDelivery(opts: FixtureOptions = {}) {
  const app: App = Testing.app();
  const delivery = new Delivery(app, 'Delivery', {
    environment: { name: 'test', prometheus: opts.prometheus, pipeline: opts.pipeline, applicationPrefix: '', applicationSetName: 'hotrod', ...opts.environment },
    services: opts.services ?? [HOTROD],
    repoUrl: opts.repoUrl,
    revision: opts.revision,
  });
  const first = delivery.services[0];
  return {
    app,
    delivery,
    pipeline: delivery.pipeline,
    collector: delivery.collector,
    charts: delivery.charts,
    appSet: delivery.appSet,
    /** the first service's parts */
    chart: first.chart,
    rollout: first.rollout,
    analysis: first.analysis,
    generator: first.generator,
  };
}

/** The model of an app's objects, read as the tools read it (with its deliveries' options). */
export function modelOfApp(app: App): DeliveryModel {
  return modelOf(synthesizeInMemory(app), modelOptionsOf(Delivery.of(app)));
}

/** What `explain` shows of a fixture's first rollout (or the one named). */
export function explained(fixture: { app: App }, rollout?: string): RolloutExplanation {
  const all = explainModel(modelOfApp(fixture.app));
  const found = rollout ? all.find((x) => x.name === rollout) : all[0];
  if (!found) throw new Error(`no rollout ${rollout ?? ''} with an analysis in the fixture`);
  return found;
}

/** The rehearsal targets of a fixture's app, in the order of its rollouts. */
export function targetsOf(fixture: { app: App }): RehearsalTarget[] {
  return targetsFromModel(modelOfApp(fixture.app), 'the fixture');
}

/** The rehearsal target of a fixture's first service (or the one named). */
export function targetOf(fixture: { app: App }, rollout: string = Delivery.of(fixture.app)[0].services[0].name): RehearsalTarget {
  const found = targetsOf(fixture).find((t) => t.rollout.split('/')[1] === rollout);
  if (!found) throw new Error(`no rehearsal target ${rollout} in the fixture`);
  return found;
}

/** The fixture written to a folder as a synth writes it; returns the folder. */
export function fixtureFolder(opts: FixtureOptions = {}): string {
  const { app } = fixtureDelivery(opts);
  app.synth();
  return app.outdir;
}

/** A folder with the two services of the fixtures, as a synth writes it: HotROD (counter) and checkout (spanmetrics only), one collector. */
export function twoServiceFolder(): string {
  return fixtureFolder({ services: [HOTROD, CHECKOUT] });
}

/**
 * The constructs of one rollout wired directly, for the constructs' own tests: props the
 * composition root does not pass (a Service port, steps, a collector of another pipeline) are
 * tested here, on the construct that takes them. Everything else goes through {@link fixtureDelivery}.
 */
export function rolloutStack(opts: {
  readonly prometheus?: PrometheusBackend;
  readonly pipeline?: SpanmetricsPipelineProps;
  readonly rollout?: Partial<CanaryRolloutProps>;
  readonly gates?: ThreeGateAnalysisOptions;
} = {}) {
  const app: App = Testing.app();
  const otel = new Chart(app, 'otel', { namespace: 'otel' });
  const pipeline = new SpanmetricsPipeline(otel, 'Pipeline', opts.pipeline);
  const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline, prometheus: opts.prometheus });
  const chart = new Chart(app, 'hotrod', { namespace: 'hotrod' });
  const rollout = new CanaryRollout(chart, 'Rollout', { collector, name: 'hotrod', workload: HOTROD.workload, ...opts.rollout });
  const analysis = rollout.addThreeGateAnalysis(opts.gates);
  return { app, otel, chart, pipeline, collector, rollout, analysis };
}

/** The rules as `validate` runs them on a folder: with the presets' image facts (HotROD's), and any other options. */
export function validateRules(manifests: readonly LoadedManifest[], options: RuleOptions = {}): Finding[] {
  return runRules(manifests, undefined, { images: PRESET_IMAGES, ...options });
}

/** The model of a folder's manifests as `validate` reads them: with the presets' image facts. */
export function validateModel(manifests: readonly LoadedManifest[], options: ModelOptions = {}): DeliveryModel {
  return modelOf(manifests, { images: PRESET_IMAGES, ...options });
}
