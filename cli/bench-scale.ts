import { App } from 'cdk8s';
import { Delivery, ServiceSpec } from '../lib/app/delivery';
import { runSynth } from '../lib/app/run-synth';
import { WorkloadProps } from '../lib/constructs/workload';
import { hotrodWorkload } from '../lib/presets/hotrod-workload';
import { formatEstimate } from '../lib/analysis/cardinality';
import { synthesizeInMemory } from '../lib/app/in-memory';
import { seriesEstimateOf } from '../lib/model/cardinality';
import { modelOf } from '../lib/model/model';
import { canaries } from '../lib/model/rollouts';

/**
 * A generic service for the scale figures: an OpenTelemetry-instrumented HTTP service judged by
 * spanmetrics, with its own image, namespace and traffic generator.
 */
function service(i: number): WorkloadProps {
  return {
    image: `ghcr.io/acme/service-${i}:1.0.${i}`,
    ports: [{ name: 'http', number: 8000 + (i % 1000) }],
    securityContext: { user: 10001, group: 10001 },
    endpoints: [{ spanName: 'GET /items', caller: 'user', urls: ['/items'] }],
  };
}

/**
 * The app `npm run bench` measures at scale: the delivery platform with `services` services, HotROD
 * and `services - 1` generic spanmetrics-only ones, one collector, one ApplicationSet.
 */
export function defineServices(app: App, services: number) {
  const specs: ServiceSpec[] = [{ name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) }];
  for (let i = 2; i <= services; i++) specs.push({ name: `service-${i}`, workload: service(i) });
  return new Delivery(app, 'Delivery', { environment: { name: 'bench' }, services: specs });
}

/**
 * The spanmetrics series each service of the platform with N services adds at the collector, as
 * `explain` and the `collector/spanmetrics-series-budget` rule estimate them, and their sum.
 */
export function seriesLines(services: number): string[] {
  const app = new App({ outdir: '/nonexistent' });
  const delivery = defineServices(app, services);
  const model = modelOf(synthesizeInMemory(app), delivery.modelOptions());
  const lines = new Map<string, number>();
  let total = 0;
  for (const c of canaries(model)) {
    const e = seriesEstimateOf(c);
    if (!e) continue;
    total += e.total;
    const line = formatEstimate(c.name.startsWith('service-') ? 'each generic service' : c.name, e);
    lines.set(line, (lines.get(line) ?? 0) + 1);
  }
  return [...[...lines].map(([line, n]) => (n > 1 ? `${line} (x ${n})` : line)), `all ${services} services: ${total} series at the collector`];
}

/** `node cli/run.js cli/bench-scale --services N --out DIR`: synthesizes the platform with N services into DIR, as `npm run synth` would; `--series` prints the series estimates instead. */
function main(argv: string[]): number {
  const services = Number(argv[argv.indexOf('--services') + 1]);
  if (argv.includes('--series') && Number.isInteger(services) && services >= 1) {
    for (const line of seriesLines(services)) console.log(line);
    return 0;
  }
  const outdir = argv[argv.indexOf('--out') + 1];
  if (!argv.includes('--services') || !argv.includes('--out') || !Number.isInteger(services) || services < 1 || !outdir) {
    console.error('usage: node cli/run.js cli/bench-scale --services N --out DIR');
    return 2;
  }
  return runSynth({ outdir, define: (app) => defineServices(app, services), output: { log: (l) => console.log(l), error: () => {} } });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
