import { App, Chart } from 'cdk8s';
import {
  CanaryRollout,
  HotrodAppSet,
  OtelCollectorDaemonSet,
  SpanmetricsPipeline,
  synthesizeSafely,
  SynthError,
  ThreeGateAnalysis,
  TrafficGenerator,
} from './lib';

/** Settings that differ per deployment rather than per release. */
export interface StackOptions {
  /** the git repository Argo CD reads dist/ from @default - HotrodAppSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
}

/**
 * The whole stack, one chart (= one dist/ folder = one Argo CD Application) per namespace.
 * Data flows one way: pipeline -> collector -> rollout -> gates -> traffic -> ApplicationSet.
 */
export function defineApp(app: App, options: StackOptions = {}) {
  const otel = new Chart(app, 'otel', { namespace: 'otel' });
  const hotrod = new Chart(app, 'hotrod', { namespace: 'hotrod' });
  const traffic = new Chart(app, 'traffic-generator', { namespace: 'traffic-generator' });
  const argocd = new Chart(app, 'argocd', { namespace: 'argocd' });

  const pipeline = new SpanmetricsPipeline(otel, 'Pipeline');
  const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline });

  const rollout = new CanaryRollout(hotrod, 'HotROD', { collector, imageTag: '1.76.0' });
  const gates = rollout.useAnalysis(new ThreeGateAnalysis(hotrod, 'Gates', {
    pipeline,
    rollout,
    minRequestsPerSecond: 0.05,
    maxErrorRatio: 0.05,
    maxP95Ms: 1000,
  }));

  const generator = new TrafficGenerator(traffic, 'Generator', { target: rollout });

  const appSet = new HotrodAppSet(argocd, 'AppSet', {
    apps: [otel, hotrod, traffic],
    repoUrl: options.repoUrl,
    revision: options.revision,
  });

  return { charts: { otel, hotrod, traffic, argocd }, pipeline, collector, rollout, gates, generator, appSet };
}

if (require.main === module) {
  const outdir = process.env.CDK8S_OUTDIR ?? 'dist';
  try {
    const { files } = synthesizeSafely({
      outdir,
      define: (app) => defineApp(app, {
        repoUrl: process.env.HOTROD_REPO_URL || undefined,
        revision: process.env.HOTROD_REPO_REVISION || undefined,
      }),
    });
    console.log(`synthesized ${files.length} manifests into ${outdir}/`);
  } catch (e) {
    const lines = e instanceof SynthError ? e.lines : [e instanceof Error ? e.message : String(e)];
    console.error(`synth failed; ${outdir}/ was left as it was:`);
    for (const line of lines) console.error(`  ${line}`);
    process.exitCode = 1;
  }
}
