/**
 * The HotROD counter of served requests, from its `/metrics`: one increment per SERVER span of any
 * of its services, labelled with the span name (jaeger examples/hotrod/pkg/tracing/rpcmetrics
 * observer.go and metrics.go @ v1.76.0; the factory's namespace `hotrod` is set in cmd/root.go).
 * Both `error` children of an endpoint are created at 0 when the endpoint is first seen
 * (`metrics.Init` registers every field of the struct at once).
 */
export const HOTROD_REQUESTS_METRIC = {
  name: 'hotrod_requests_total',
  /** the label that carries the span name (the HTTP mux pattern), normalized to `[a-zA-Z0-9_/.]` */
  endpointLabel: 'endpoint',
  /** the label that says whether the request failed */
  errorLabel: 'error',
  /** the value of {@link errorLabel} on failed requests */
  errorValue: 'true',
} as const;

/**
 * The most `/dispatch` requests one HotROD process can serve per second: every one loads its
 * customer under a process-wide mutex that is held for the simulated MySQL delay of 300 ms
 * (services/config/config.go MySQLGetDelay, MySQLMutexDisabled false @ v1.76.0).
 */
export const HOTROD_DISPATCH_CAPACITY_PER_SECOND = 1000 / 300;

/** Whether a request URL (path and query) reaches an endpoint: its path is the span name (HotROD's mux patterns are its span names). */
export function servesUrl(endpoint: ServedEndpoint, url: string): boolean {
  return url.split('?')[0] === endpoint.spanName;
}

/** A kind of request a service serves, as its telemetry names it. */
export interface ServedEndpoint {
  /** the span name, which HotROD's counter also uses as its `endpoint` label */
  readonly spanName: string;
  /** the `service.name` of the spans */
  readonly service: string;
  /** who calls it */
  readonly caller: 'user' | 'prometheus' | 'internal';
  /** the request URLs (path and query) a user sends to it; user endpoints only */
  readonly urls?: readonly string[];
  /** the most requests per second one pod serves there before requests queue @default - not limited */
  readonly capacityPerSecond?: number;
}

/**
 * HotROD's server spans (jaeger examples/hotrod @ v1.76.0). The frontend's HTTP handlers are
 * wrapped in otelhttp with the mux pattern as span name (pkg/tracing/mux.go, services/frontend/
 * server.go: `/`, `/dispatch`, `/config`, `/debug/vars`, `/metrics`), so Prometheus's own scrape of
 * `/metrics` is a frontend server span too. One `/dispatch` calls customer `/customer` once, the
 * driver's `FindNearest` once, and route `/route` once per driver found (10).
 */
export const HOTROD_ENDPOINTS = {
  home: { spanName: '/', service: 'frontend', caller: 'user', urls: ['/'] },
  dispatch: {
    spanName: '/dispatch',
    service: 'frontend',
    caller: 'user',
    // the customers HotROD's database knows (services/customer/database.go); others fail
    urls: ['/dispatch?customer=123', '/dispatch?customer=567', '/dispatch?customer=392', '/dispatch?customer=731'],
    capacityPerSecond: HOTROD_DISPATCH_CAPACITY_PER_SECOND,
  },
  metrics: { spanName: '/metrics', service: 'frontend', caller: 'prometheus' },
  customer: { spanName: '/customer', service: 'customer', caller: 'internal' },
  driver: { spanName: 'driver.DriverService/FindNearest', service: 'driver', caller: 'internal' },
  route: { spanName: '/route', service: 'route', caller: 'internal' },
} as const satisfies Record<string, ServedEndpoint>;

/** The route calls of one `/dispatch`: one per driver the driver service finds (services/driver/redis.go FindDriverIDs: 10). */
export const HOTROD_ROUTES_PER_DISPATCH = 10;

/**
 * How long a finished HotROD span can wait in the SDK before it is exported: HotROD sets the
 * batch span processor's timeout to 1 s (examples/hotrod/pkg/tracing/init.go @ v1.76.0,
 * `sdktrace.WithBatchTimeout(1000*time.Millisecond)`).
 */
export const HOTROD_EXPORT_DELAY_MS = 1000;


/** What an image does that its manifests cannot show. */
export interface ImageFacts {
  /** the repository, without registry host or tag */
  readonly repository: string;
  /** the user the image runs as when the pod does not set runAsUser */
  readonly user: {
    /** the USER of the image, as the kubelet sees it */
    readonly name: string;
    /** its uid */
    readonly uid: number;
    /** why, in a few words */
    readonly why: string;
  };
  /**
   * the OTLP protocol the app's SDK exporter speaks when no OTEL_EXPORTER_OTLP_PROTOCOL is set
   * (many SDKs choose it in code, so the spec's default says nothing about a given image)
   */
  readonly otlpProtocol?: 'http/protobuf' | 'grpc';
  /**
   * the span name of Prometheus's own scrapes, when the app traces them as server spans (and so
   * counts them): its request series exist, and grow, for an idle canary, unless a query leaves
   * that span name out
   */
  readonly scrapeSpanName?: string;
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
    }[];
  };
}

/** HotROD (`all`): runs as root; serves its UI and `/metrics` on the frontend port. */
export const HOTROD_IMAGE = {
  repository: 'jaegertracing/example-hotrod',
  user: { name: 'root', uid: 0, why: 'FROM scratch with no USER' },
  // SPEC: HotROD exports traces over OTLP/HTTP (jaegertracing/jaeger examples/hotrod/pkg/tracing, otlptracehttp).
  otlpProtocol: 'http/protobuf',
  // /metrics is wrapped in otelhttp (examples/hotrod/services/frontend/server.go @ v1.76.0): one server span per scrape
  scrapeSpanName: HOTROD_ENDPOINTS.metrics.spanName,
  ports: { frontend: 8080, customer: 8081, route: 8083 },
  metrics: {
    port: 8080,
    path: '/metrics',
    series: [{
      name: HOTROD_REQUESTS_METRIC.name,
      labels: [HOTROD_REQUESTS_METRIC.endpointLabel, HOTROD_REQUESTS_METRIC.errorLabel],
      spanNameLabel: HOTROD_REQUESTS_METRIC.endpointLabel,
    }],
  },
} as const satisfies ImageFacts;

/** curl: runs as a user with a name, not a uid, so runAsNonRoot needs a numeric runAsUser. */
export const CURL_IMAGE = {
  repository: 'curlimages/curl',
  user: { name: 'curl_user', uid: 100, why: 'USER curl_user, a name, not a uid' },
} as const satisfies ImageFacts;

/** The OpenTelemetry Collector, contrib distribution (the one with the prometheus exporter). */
export const COLLECTOR_IMAGE = {
  repository: 'otel/opentelemetry-collector-contrib',
  user: { name: '10001', uid: 10001, why: 'USER 10001:10001' },
} as const satisfies ImageFacts;

/** The images of this stack: the one table of facts about them. */
export const KNOWN_IMAGES: readonly ImageFacts[] = [HOTROD_IMAGE, CURL_IMAGE, COLLECTOR_IMAGE];

/** The facts of an image reference (`docker.io/jaegertracing/example-hotrod:1.76.0@sha256:...`), if it is a known image. */
export function imageFacts(image: string): ImageFacts | undefined {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  let repository = colon < 0 ? withoutDigest : withoutDigest.slice(0, colon);
  repository = repository.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return KNOWN_IMAGES.find((f) => f.repository === repository);
}
