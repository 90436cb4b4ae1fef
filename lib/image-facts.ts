/** The HotROD counter of served requests (one per server span), from its `/metrics`. */
export const HOTROD_REQUESTS_METRIC = {
  name: 'hotrod_requests_total',
  /** the label that says whether the request failed */
  errorLabel: 'error',
  /** the value of {@link errorLabel} on failed requests */
  errorValue: 'true',
} as const;

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
   * whether the app serves requests with no user at all, so its request series exist (and are
   * not empty) for an idle canary: HotROD counts and traces Prometheus's own `GET /metrics`
   */
  readonly selfTraffic?: boolean;
  /** the ports the image listens on, by name */
  readonly ports?: Readonly<Record<string, number>>;
  /** the Prometheus metrics the image serves */
  readonly metrics?: {
    /** the container port that serves them */
    readonly port: number;
    /** the path */
    readonly path: string;
    /** each series name with the labels the app puts on it */
    readonly series: readonly { readonly name: string; readonly labels: readonly string[] }[];
  };
}

/** HotROD (`all`): runs as root; serves its UI and `/metrics` on the frontend port. */
export const HOTROD_IMAGE = {
  repository: 'jaegertracing/example-hotrod',
  user: { name: 'root', uid: 0, why: 'FROM scratch with no USER' },
  // SPEC: HotROD exports traces over OTLP/HTTP (jaegertracing/jaeger examples/hotrod/pkg/tracing, otlptracehttp).
  otlpProtocol: 'http/protobuf',
  // SPEC "HotROD": /metrics scrapes are SERVER spans, counted in hotrod_requests_total and wrapped in otelhttp.
  selfTraffic: true,
  ports: { frontend: 8080, customer: 8081, route: 8083 },
  metrics: {
    port: 8080,
    path: '/metrics',
    series: [{ name: HOTROD_REQUESTS_METRIC.name, labels: ['endpoint', HOTROD_REQUESTS_METRIC.errorLabel] }],
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
