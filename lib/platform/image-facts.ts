import { OtlpProtocol } from './otel';

/** The HTTP method a request is sent with unless an endpoint says otherwise. */
export const DEFAULT_METHOD = 'GET';

/**
 * Whether a request (its URL, path and query, and its method) reaches an endpoint: its path is the
 * path of one of the endpoint's URLs, and the method is the endpoint's.
 */
export function servesUrl(endpoint: ServedEndpoint, url: string, method: string = DEFAULT_METHOD): boolean {
  const path = url.split('?')[0];
  return (endpoint.method ?? DEFAULT_METHOD) === method && (endpoint.urls ?? []).some((u) => u.split('?')[0] === path);
}

/** Spans of another endpoint that one request of an endpoint causes (its internal calls). */
export interface InternalCall {
  /** the span name of the called endpoint: one of the service's endpoints, usually with caller 'internal' */
  readonly spanName: string;
  /** how many of its server spans one request causes */
  readonly perRequest: number;
}

/** How long the server spans of an endpoint take when the service is healthy. */
export interface TypicalLatency {
  /** their mean duration, in ms */
  readonly meanMs: number;
  /** the duration nearly all of them stay under, in ms @default - meanMs */
  readonly upToMs?: number;
}

/** A kind of request a service serves, as its telemetry names it. */
export interface ServedEndpoint {
  /** the span name of its server spans (HotROD's counter also uses it as its `endpoint` label) */
  readonly spanName: string;
  /** the `service.name` of the spans */
  readonly service: string;
  /** who calls it */
  readonly caller: 'user' | 'prometheus' | 'internal';
  /** the request URLs (path and query) a user sends to it; user endpoints only */
  readonly urls?: readonly string[];
  /** the HTTP method users call it with; the traffic generator sends it @default 'GET' */
  readonly method?: string;
  /** the request body the traffic generator sends (e.g. a POST's JSON payload) @default - none */
  readonly body?: string;
  /** request headers the traffic generator sends, e.g. `{ 'Content-Type': 'application/json' }` @default - none */
  readonly headers?: Readonly<Record<string, string>>;
  /** the most requests per second one pod serves there before requests queue @default - not limited */
  readonly capacityPerSecond?: number;
  /** the internal spans one request here causes, e.g. a lookup in another service @default - none */
  readonly calls?: readonly InternalCall[];
  /**
   * how long its spans take when healthy; the rehearsal models internal spans with it, and a user
   * endpoint whose spans stay within the histogram's first bucket as always that fast
   * @default - not known: internal spans are modelled as fast, user requests as the scenario's latency
   */
  readonly typicalLatency?: TypicalLatency;
}

/** The quantiles a healthy profile may state. */
export type ProfileQuantile = 'p50' | 'p90' | 'p95' | 'p99' | 'p999';

/** The share of requests at or below each quantile. */
export const PROFILE_QUANTILES: Readonly<Record<ProfileQuantile, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99, p999: 0.999 };

/** How a service behaves when it is healthy: the chance its user requests fail, and their latency at some quantiles. */
export interface HealthyProfile {
  /** the share of user requests that fail, 0..1 @default - not stated */
  readonly errorRatio?: number;
  /** the latency of user requests at some quantiles, in ms @default - not stated */
  readonly latencyMs?: Readonly<Partial<Record<ProfileQuantile, number>>>;
}

/** What an image does that its manifests cannot show. */
export interface ImageFacts {
  /** the repository, without registry host or tag */
  readonly repository: string;
  /** how the service behaves when healthy; the rehearsal's good canaries do so @default - not stated: comfortably inside every gate */
  readonly healthy?: HealthyProfile;
  /** the user the image runs as when the pod does not set runAsUser @default - not known */
  readonly user?: {
    /** the USER of the image, as the kubelet sees it */
    readonly name: string;
    /** its uid */
    readonly uid: number;
    /** its primary gid, when known @default - not known */
    readonly gid?: number;
    /** why, in a few words */
    readonly why: string;
  };
  /**
   * the OTLP protocol the app's SDK exporter speaks when no OTEL_EXPORTER_OTLP_PROTOCOL is set
   * (many SDKs choose it in code, so the spec's default says nothing about a given image)
   */
  readonly otlpProtocol?: OtlpProtocol;
  /**
   * the span name of Prometheus's own scrapes, when the app traces them as server spans (and so
   * counts them): its request series exist, and grow, for an idle canary, unless a query leaves
   * that span name out
   */
  readonly scrapeSpanName?: string;
  /**
   * the longest a finished span waits in the app's SDK before it is exported, when the app sets it
   * in code (otherwise OTEL_BSP_SCHEDULE_DELAY or the SDK default applies)
   */
  readonly exportDelayMs?: number;
  /** the server spans the image's services produce, and who calls each */
  readonly endpoints?: readonly ServedEndpoint[];
  /** the ports the image listens on, by name */
  readonly ports?: Readonly<Record<string, number>>;
  /** the Prometheus metrics the image serves */
  readonly metrics?: {
    /** the container port that serves them */
    readonly port: number;
    /** the path */
    readonly path: string;
    /** each series name with the labels the app puts on it */
    readonly series: readonly {
      readonly name: string;
      readonly labels: readonly string[];
      /** the label that carries the span name, when the series counts spans by name */
      readonly spanNameLabel?: string;
      /** the label that marks failed requests and its value on them, when the series counts requests */
      readonly failed?: { readonly label: string; readonly value: string };
    }[];
  };
}

/**
 * The repository of an image reference without registry host, tag or digest, as image facts name it:
 * `docker.io/jaegertracing/example-hotrod:1.76.0@sha256:...` -> `jaegertracing/example-hotrod`.
 */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  const repository = colon < 0 ? withoutDigest : withoutDigest.slice(0, colon);
  return repository.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
}

/**
 * The facts the tools know about images, by repository: what manifests cannot show (the user an
 * image runs as, the spans and counters its app produces). The platform's own images are always in
 * it; presets and the services of a delivery register theirs, so no tool assumes one application.
 */
export class ImageCatalogue {
  /** A catalogue of the platform's own images (the collector and the traffic generator's curl) and these. */
  public static of(...facts: readonly ImageFacts[]): ImageCatalogue {
    return new ImageCatalogue([...PLATFORM_IMAGES, ...facts]);
  }

  private readonly byRepository: ReadonlyMap<string, ImageFacts>;

  private constructor(public readonly all: readonly ImageFacts[]) {
    const byRepository = new Map<string, ImageFacts>();
    // a later registration of a repository replaces an earlier one (a service's own facts over a preset's)
    for (const f of all) byRepository.set(f.repository, f);
    this.byRepository = byRepository;
  }

  /** This catalogue with more facts; a repository given again replaces the earlier facts. */
  public with(...facts: readonly ImageFacts[]): ImageCatalogue {
    return new ImageCatalogue([...this.all, ...facts]);
  }

  /** The facts of an image reference, if its repository is known. */
  public factsOf(image: string): ImageFacts | undefined {
    return this.byRepository.get(imageRepository(image));
  }
}

/**
 * curl: runs as a user with a name, not a uid, so runAsNonRoot needs a numeric runAsUser. The
 * image is built with BusyBox `addgroup -S curl_group` and `adduser -S curl_user -G curl_group` on
 * alpine 3.21.0 with no ids given (curl/curl-container create_base_image.sh and Makefile @ 8.11.1):
 * the first free system ids, uid 100 and gid 101 (Alpine's group file already has gid 100, `users`).
 */
export const CURL_IMAGE = {
  repository: 'curlimages/curl',
  user: { name: 'curl_user', uid: 100, gid: 101, why: 'USER curl_user, a name, not a uid' },
} as const satisfies ImageFacts;

/**
 * The OpenTelemetry Collector, contrib distribution (the one with the prometheus exporter):
 * `USER 10001:10001` (open-telemetry/opentelemetry-collector-releases
 * distributions/otelcol-contrib/Dockerfile @ v0.142.0, USER_UID and USER_GID).
 */
export const COLLECTOR_IMAGE = {
  repository: 'otel/opentelemetry-collector-contrib',
  user: { name: '10001', uid: 10001, gid: 10001, why: 'USER 10001:10001' },
} as const satisfies ImageFacts;

/** The images the platform itself deploys: always known. */
export const PLATFORM_IMAGES: readonly ImageFacts[] = [CURL_IMAGE, COLLECTOR_IMAGE];
