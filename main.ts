import { Duration } from 'cdk8s';
import { Delivery, deliveryApp, EnvironmentSpec, PrometheusBackend, repositorySettings } from './lib';
import { hotrodWorkload } from './lib/presets/hotrod-workload';

/** Where the default app runs: the cluster Argo CD runs in, with the prometheus-community chart's Prometheus. */
export const environment: EnvironmentSpec = {
  name: 'default',
  prometheus: PrometheusBackend.communityChart(),
  applicationPrefix: '',
  applicationSetName: 'hotrod',
  gates: { minRequestsPerSecond: 0.05, maxErrorRatio: 0.05, maxP95: Duration.seconds(1) },
};

/**
 * The default app: HotROD delivered to the cluster Argo CD runs in, one folder of dist/ (= one
 * Argo CD Application) per namespace. `npm run synth` writes it; `explain`, `rehearse` and the
 * tests read it from here.
 */
export const app = deliveryApp({
  define: (scope) => new Delivery(scope, 'Delivery', {
    environment,
    services: [{ name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }) }],
    ...repositorySettings(process.cwd()),
  }),
});

if (require.main === module) process.exitCode = app.synth();
