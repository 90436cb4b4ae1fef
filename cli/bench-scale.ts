import { App } from 'cdk8s';
import { Delivery, ServiceSpec } from '../lib/app/delivery';
import { runSynth } from '../lib/app/run-synth';
import { WorkloadProps } from '../lib/constructs/workload';
import { hotrodWorkload } from '../lib/presets/hotrod-workload';

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

/** `node cli/run.js cli/bench-scale --services N --out DIR`: synthesizes the platform with N services into DIR, as `npm run synth` would. */
function main(argv: string[]): number {
  const services = Number(argv[argv.indexOf('--services') + 1]);
  const outdir = argv[argv.indexOf('--out') + 1];
  if (!argv.includes('--services') || !argv.includes('--out') || !Number.isInteger(services) || services < 1 || !outdir) {
    console.error('usage: node cli/run.js cli/bench-scale --services N --out DIR');
    return 2;
  }
  return runSynth({ outdir, define: (app) => defineServices(app, services), output: { log: (l) => console.log(l), error: () => {} } });
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
