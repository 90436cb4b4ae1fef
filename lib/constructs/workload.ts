import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { ImageFacts, ProfileQuantile, ServedEndpoint } from '../platform/image-facts';
import { Image } from '../util';

/**
 * Where the gates count a service's requests.
 *
 * By default from the spanmetrics of the service's own server spans, which every
 * OpenTelemetry-instrumented service has; or from a request counter the service serves
 * itself on its metrics port, scraped from its pods.
 */
export abstract class RequestSource {
  /**
   * The spanmetrics calls of the service's SERVER spans: a request is failed when its span's
   * status is ERROR. Works for any service that sends traces to the collector.
   */
  public static spanmetrics(): RequestSource {
    return new SpanmetricsRequests();
  }

  /** The service's own request counter, scraped from its pods (the workload must declare `metrics`). */
  public static counter(counter: RequestCounter): RequestSource {
    return new CounterRequests(counter);
  }

  /** the counter, when the requests are counted by the service itself */
  public abstract readonly counter?: RequestCounter;
}

/** A request counter a service serves, as the service names it (before a scrape may rename its labels). */
export interface RequestCounter {
  /** the counter, e.g. `hotrod_requests_total` */
  readonly name: string;
  /** the label that carries the endpoint (the span name) */
  readonly endpointLabel: string;
  /** the label that marks failed requests */
  readonly errorLabel: string;
  /** its value on failed requests */
  readonly errorValue: string;
}

class SpanmetricsRequests extends RequestSource {
  public readonly counter = undefined;
}

class CounterRequests extends RequestSource {
  constructor(public readonly counter: RequestCounter) {
    super();
  }
}

/** An endpoint of the workload: {@link ServedEndpoint} whose service defaults to the workload's service name. */
export type WorkloadEndpoint = Omit<ServedEndpoint, 'service'> & { readonly service?: string };

/** How the workload reports its traces. */
export interface WorkloadTelemetry {
  /**
   * The `service.name` of its spans. Set as `OTEL_SERVICE_NAME` unless the app names its services
   * in code ({@link namesItsServices}).
   * @default - the rollout's name
   */
  readonly serviceName?: string;
  /**
   * The app names its services in code and each endpoint says which; no `OTEL_SERVICE_NAME` is set.
   * @default false
   */
  readonly namesItsServices?: boolean;
  /**
   * The longest a finished span waits in the app's SDK before it is exported.
   * @default Duration.seconds(5) - the OpenTelemetry SDK's batch span processor default (OTEL_BSP_SCHEDULE_DELAY, 5000 ms,
   * open-telemetry/opentelemetry-specification specification/configuration/sdk-environment-variables.md
   * @ 00b192e, "Batch Span Processor")
   */
  readonly exportDelay?: Duration;
}

/** Where the workload serves Prometheus metrics; the pods are scraped there. */
export interface WorkloadMetrics {
  /** the name of the container port */
  readonly port: string;
  /** the path @default '/metrics' */
  readonly path?: string;
}

/** How a service behaves when healthy (see {@link WorkloadProps.healthy}). */
export interface WorkloadHealth {
  /** the share of user requests that fail, in [0, 1) @default - not stated */
  readonly errorRatio?: number;
  /** the latency of user requests at some quantiles, e.g. `{ p50: Duration.millis(80), p99: Duration.millis(250) }` @default - not stated */
  readonly latency?: Readonly<Partial<Record<ProfileQuantile, Duration>>>;
}

/**
 * The service a {@link CanaryRollout} delivers: its container, modelled on cdk8s-plus
 * `ContainerProps`, and what its telemetry says of its requests.
 */
export interface WorkloadProps {
  /** the image reference, e.g. `ghcr.io/acme/checkout:2.3.0` or `...@sha256:...` (a version tag or a digest is required, `latest` is refused: the reference is what a release changes) */
  readonly image: string;
  /** the container ports; each needs a name. The first serves users unless {@link servingPort} says otherwise */
  readonly ports: readonly kplus.ContainerPort[];
  /** the name of the port the Service sends user requests to @default - the first port */
  readonly servingPort?: string;
  /** the container's arguments @default - the image's CMD */
  readonly args?: string[];
  /** the container's entrypoint @default - the image's ENTRYPOINT */
  readonly command?: string[];
  /** environment variables, beside the OTLP ones the rollout sets @default - none */
  readonly envVariables?: Record<string, kplus.EnvValue>;
  /** the readiness probe @default - a TCP probe on the serving port (an HTTP probe would be counted as requests by many apps) */
  readonly readiness?: kplus.Probe;
  /** the liveness probe @default - none */
  readonly liveness?: kplus.Probe;
  /** CPU and memory requests and limits @default - cpu 100m, memory 128Mi, requests equal to limits */
  readonly resources?: kplus.ContainerResources;
  /**
   * the container's security context; the image's user must not be root, or `user` must be set
   * @default - cdk8s-plus defaults (non-root, read-only root filesystem, no privilege escalation)
   */
  readonly securityContext?: kplus.ContainerSecurityContextProps;
  /** when to pull the image @default kplus.ImagePullPolicy.IF_NOT_PRESENT */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /** where the service serves Prometheus metrics, if it does @default - none: the pods are not scraped */
  readonly metrics?: WorkloadMetrics;
  /** its traces */
  readonly telemetry?: WorkloadTelemetry;
  /**
   * The server spans of the service that users call (the gates count these and the traffic
   * generator sends their URLs), and any others it serves (Prometheus's scrapes, internal calls).
   * At least one must have `caller: 'user'` and `urls`.
   */
  readonly endpoints: readonly WorkloadEndpoint[];
  /** where its requests are counted @default RequestSource.spanmetrics() */
  readonly requests?: RequestSource;
  /**
   * How the service behaves when healthy: the share of its user requests that fail and their
   * latency at some quantiles. The rehearsal's good canaries behave so; without it they stay
   * comfortably inside every gate (a fifth of each threshold).
   * @default - not stated
   */
  readonly healthy?: WorkloadHealth;
  /**
   * What is known of the image that neither these props nor its manifests show (the user it runs
   * as, the OTLP protocol its SDK speaks): a preset's facts. The tools that read the synthesized
   * YAML get them with what the props say.
   * @default - nothing beyond these props
   */
  readonly imageFacts?: ImageFacts;
}

/**
 * The image reference split into repository, tag and digest (`repo:tag`, `repo@sha256:...`,
 * `repo:tag@sha256:...`); throws with `where` in the message when it has neither tag nor digest,
 * or an empty tag. {@link imageRef} checks the parts.
 */
export function parseImage(ref: string, where: string): Image {
  const at = ref.indexOf('@');
  const [name, digest] = at < 0 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const repository = colon < 0 ? name : name.slice(0, colon);
  const tag = colon < 0 ? undefined : name.slice(colon + 1);
  if (tag === '') {
    throw new Error(`${where} '${ref}' has an empty tag; give the version to deploy, e.g. '${repository}:1.0.0', or a digest ('${repository}@sha256:...')`);
  }
  if (tag === undefined && digest === undefined) {
    throw new Error(`${where} '${ref}' has no tag; give the version to deploy, e.g. '${repository}:1.0.0' (a release changes the tag), or a digest ('${repository}@sha256:...')`);
  }
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * A container as cdk8s-plus renders it (`kplus.Container`): ports, env, probes, resources and
 * security context take cdk8s-plus's own rendering and defaults. `_toKube` is cdk8s-plus's
 * renderer for a pod's containers (cdk8s-plus-28 @ 2.5.6, src/container.ts).
 */
export function renderContainer(props: kplus.ContainerProps): kplus.k8s.Container {
  return new kplus.Container(props)._toKube();
}
