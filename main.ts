import { App, Chart } from 'cdk8s';
// Each module by name rather than the './lib' barrel: synth loads only what it uses.
import { CanaryRollout } from './lib/constructs/canary-rollout';
import { HotrodAppSet } from './lib/constructs/hotrod-app-set';
import { hotrodWorkload } from './lib/presets/hotrod';
import { PrometheusBackend } from './lib/platform/metrics-backend';
import { OtelCollectorDaemonSet } from './lib/constructs/otel-collector-daemon-set';
import { errorsOf, runRules } from './lib/rules/engine';
import { formatFinding, Severity } from './lib/rules/types';
import { synthesizeSafely, SynthError } from './lib/safe-synth';
import { SpanmetricsPipeline } from './lib/constructs/spanmetrics-pipeline';
import { ThreeGateAnalysis } from './lib/constructs/three-gate-analysis';
import { TrafficGenerator } from './lib/constructs/traffic-generator';

/** Settings that differ per deployment rather than per release. */
export interface StackOptions {
  /** the git repository Argo CD reads dist/ from @default - HotrodAppSet's placeholder */
  readonly repoUrl?: string;
  /** the revision Argo CD follows @default 'HEAD' */
  readonly revision?: string;
  /**
   * The Prometheus the gates query and how it scrapes: every gate timing is derived from it.
   * @default PrometheusBackend.communityChart() - the prometheus-community chart's defaults, the environment SPEC names
   */
  readonly prometheus?: PrometheusBackend;
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
  const prometheus = options.prometheus ?? PrometheusBackend.communityChart();
  const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline, prometheus });

  const rollout = new CanaryRollout(hotrod, 'HotROD', { collector, name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) });
  const gates = rollout.useAnalysis(new ThreeGateAnalysis(hotrod, 'Gates', {
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

  return { charts: { otel, hotrod, traffic, argocd }, prometheus, pipeline, collector, rollout, gates, generator, appSet };
}

/** Where `runSynth` writes its lines. */
export interface SynthOutput {
  readonly log: (line: string) => void;
  readonly error: (line: string) => void;
}

/**
 * What `npm run synth` does: synthesizes the app into a staging folder, runs every rule on
 * the synthesized objects, and replaces `outdir` only when no rule found an error. Warnings
 * are printed either way. Returns the exit code.
 */
export function runSynth(options: { readonly outdir: string; readonly define: (app: App) => { readonly prometheus?: PrometheusBackend } | void; readonly output?: SynthOutput }): number {
  const out = options.output ?? { log: (l: string) => console.log(l), error: (l: string) => console.error(l) };
  let warnings = 0;
  let prometheus: PrometheusBackend | undefined;
  try {
    const { files } = synthesizeSafely({
      outdir: options.outdir,
      define: (app) => {
        prometheus = options.define(app)?.prometheus;
      },
      check: (manifests) => {
        // The rules judge scrape labels and timings against the Prometheus the app targets.
        const findings = runRules(manifests, undefined, { prometheus });
        const warned = findings.filter((f) => f.severity === Severity.WARNING);
        warnings = warned.length;
        for (const w of warned) out.error(`warning: ${formatFinding(w)}`);
        return errorsOf(findings).map(formatFinding);
      },
    });
    out.log(`synthesized ${files.length} manifests into ${options.outdir}/: 0 errors, ${warnings} warning(s)`);
    return 0;
  } catch (e) {
    const lines = e instanceof SynthError ? e.lines : [e instanceof Error ? e.message : String(e)];
    out.error(`synth failed; ${options.outdir}/ was left as it was:`);
    for (const line of lines) out.error(`  ${line}`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = runSynth({
    outdir: process.env.CDK8S_OUTDIR ?? 'dist',
    define: (app) => defineApp(app, {
      repoUrl: process.env.HOTROD_REPO_URL || undefined,
      revision: process.env.HOTROD_REPO_REVISION || undefined,
    }),
  });
}
