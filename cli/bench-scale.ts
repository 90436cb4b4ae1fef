import { App, Chart } from 'cdk8s';
import { CanaryRollout } from '../lib/constructs/canary-rollout';
import { HotrodAppSet } from '../lib/constructs/hotrod-app-set';
import { OtelCollectorDaemonSet } from '../lib/constructs/otel-collector-daemon-set';
import { SpanmetricsPipeline } from '../lib/constructs/spanmetrics-pipeline';
import { ThreeGateAnalysis } from '../lib/constructs/three-gate-analysis';
import { TrafficGenerator } from '../lib/constructs/traffic-generator';
import { hotrodWorkload } from '../lib/presets/hotrod';
import { runSynth } from '../main';

/**
 * A fixture for `npm run bench`'s scale figures until the app takes several services: `services`
 * copies of the default stack (collector, HotROD with its gates, traffic generator), copy i in the
 * namespaces `otel-i`, `hotrod-i` and `traffic-generator-i`, and one ApplicationSet for them all.
 */
export function defineCopies(app: App, services: number): void {
  const apps: Chart[] = [];
  for (let i = 1; i <= services; i++) {
    const chart = (name: string) => new Chart(app, `${name}-${i}`, { namespace: `${name}-${i}` });
    const [otel, hotrod, traffic] = [chart('otel'), chart('hotrod'), chart('traffic-generator')];
    const pipeline = new SpanmetricsPipeline(otel, 'Pipeline');
    const collector = new OtelCollectorDaemonSet(otel, 'Collector', { pipeline });
    const rollout = new CanaryRollout(hotrod, 'HotROD', { collector, name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) });
    rollout.useAnalysis(new ThreeGateAnalysis(hotrod, 'Gates', { rollout }));
    new TrafficGenerator(traffic, 'Generator', { target: rollout });
    apps.push(otel, hotrod, traffic);
  }
  new HotrodAppSet(new Chart(app, 'argocd', { namespace: 'argocd' }), 'AppSet', { apps });
}

/** `node cli/run.js cli/bench-scale --services N --out DIR`: synthesizes N copies into DIR, as `npm run synth` would. */
function main(argv: string[]): number {
  const services = Number(argv[argv.indexOf('--services') + 1]);
  const outdir = argv[argv.indexOf('--out') + 1];
  if (!argv.includes('--services') || !argv.includes('--out') || !Number.isInteger(services) || services < 1 || !outdir) {
    console.error('usage: node cli/run.js cli/bench-scale --services N --out DIR');
    return 2;
  }
  return runSynth({ outdir, define: (app) => defineCopies(app, services), output: { log: (l) => console.log(l), error: () => {} } });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
