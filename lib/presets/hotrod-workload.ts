import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { RequestSource, WorkloadProps } from '../constructs/workload';
import { imageRef } from '../util';
import { HOTROD_ENDPOINTS, HOTROD_EXPORT_DELAY_MS, HOTROD_IMAGE, HOTROD_REQUESTS_METRIC } from './hotrod';

/** Options of {@link hotrodWorkload}. */
export interface HotrodWorkloadOptions {
  /** the image tag: the value to change for a release (not `latest`) @default - none: give a digest */
  readonly tag?: string;
  /** the image digest (`sha256:...`), alone or beside the tag @default - none: give a tag */
  readonly digest?: string;
  /** the image repository @default 'jaegertracing/example-hotrod' */
  readonly repository?: string;
  /** CPU and memory @default - 100m CPU and 100Mi memory, requests equal to limits */
  readonly resources?: kplus.ContainerResources;
  /** the numeric uid (and gid) to run as: the image is `FROM scratch` with no USER, i.e. root @default 10001 */
  readonly runAsUser?: number;
  /** where HotROD's requests are counted @default - its own counter, `hotrod_requests_total` */
  readonly requests?: RequestSource;
}

/**
 * HotROD (`all`: frontend, customer, driver and route in one process) as a workload: its ports,
 * its `/metrics` with the request counter the gates read, the services it names itself, its
 * endpoints (users call `/` and `/dispatch`; Prometheus calls `/metrics`; the rest are internal)
 * and its 1 s export delay.
 */
export function hotrodWorkload(options: HotrodWorkloadOptions): WorkloadProps {
  const uid = options.runAsUser ?? 10001;
  const ports = HOTROD_IMAGE.ports;
  // the port that serves /metrics, by the name the ports below give it
  const metricsPort = (Object.keys(ports) as (keyof typeof ports)[]).find((name) => ports[name] === HOTROD_IMAGE.metrics.port)!;
  return {
    image: imageRef({ repository: options.repository ?? HOTROD_IMAGE.repository, tag: options.tag, digest: options.digest }, 'hotrodWorkload'),
    args: ['all'],
    ports: Object.entries(ports).map(([name, number]) => ({ name, number })),
    resources: options.resources ?? {
      cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(100) },
      memory: { request: Size.mebibytes(100), limit: Size.mebibytes(100) },
    },
    securityContext: { user: uid, group: uid },
    metrics: { port: metricsPort, path: HOTROD_IMAGE.metrics.path },
    telemetry: { namesItsServices: true, exportDelay: Duration.millis(HOTROD_EXPORT_DELAY_MS) },
    endpoints: Object.values(HOTROD_ENDPOINTS),
    requests: options.requests ?? RequestSource.counter(HOTROD_REQUESTS_METRIC),
    imageFacts: HOTROD_IMAGE,
  };
}
