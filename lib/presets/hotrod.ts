import { ImageFacts, ServedEndpoint } from '../platform/image-facts';
import { OtlpProtocol } from '../platform/otel';

/*
 * Jaeger's HotROD example (jaegertracing/example-hotrod @ v1.76.0), the reference service: every
 * fact below is read in its source at that tag. The workload preset (hotrod-workload.ts), main.ts
 * and the commands' image catalogue (images.ts) use this file; the generic constructs and tools
 * take these facts as props or from a catalogue, and never import them.
 */

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

/** The route calls of one `/dispatch`: one per driver the driver service finds (services/driver/redis.go FindDriverIDs: 10). */
export const HOTROD_ROUTES_PER_DISPATCH = 10;

/**
 * HotROD's server spans (jaeger examples/hotrod @ v1.76.0). The frontend's HTTP handlers are
 * wrapped in otelhttp with the mux pattern as span name (pkg/tracing/mux.go, services/frontend/
 * server.go: `/`, `/dispatch`, `/config`, `/debug/vars`, `/metrics`), so Prometheus's own scrape of
 * `/metrics` is a frontend server span too. One `/dispatch` calls customer `/customer` once, the
 * driver's `FindNearest` once, and route `/route` once per driver found (10).
 *
 * Typical latencies, from the simulated delays (services/config/config.go @ v1.76.0): a customer
 * lookup takes MySQLGetDelay 300 ms (σ 30 ms); FindNearest RedisFindDelay 20 ms, then a
 * RedisGetDelay of 10 ms per driver (10), every fifth lookup timing out after 20 ms more and
 * retried (services/driver/redis.go): about 160 ms, under 180 ms; a route RouteCalcDelay 50 ms
 * (σ 12.5 ms). A `/dispatch` is about 0.7 s: the customer lookup, FindNearest, and 10 route calls
 * through RouteWorkerPoolSize 3 workers (4 rounds of 50 ms). `/` serves the static index.html,
 * and `/metrics` answers in a few ms (modelled as 1 ms and 3 ms: both stay in the first buckets).
 */
export const HOTROD_ENDPOINTS = {
  home: { spanName: '/', service: 'frontend', caller: 'user', urls: ['/'], typicalLatency: { meanMs: 1 } },
  dispatch: {
    spanName: '/dispatch',
    service: 'frontend',
    caller: 'user',
    // the customers HotROD's database knows (services/customer/database.go); others fail
    urls: ['/dispatch?customer=123', '/dispatch?customer=567', '/dispatch?customer=392', '/dispatch?customer=731'],
    capacityPerSecond: HOTROD_DISPATCH_CAPACITY_PER_SECOND,
    calls: [
      { spanName: '/customer', perRequest: 1 },
      { spanName: 'driver.DriverService/FindNearest', perRequest: 1 },
      { spanName: '/route', perRequest: HOTROD_ROUTES_PER_DISPATCH },
    ],
    typicalLatency: { meanMs: 700 },
  },
  metrics: { spanName: '/metrics', service: 'frontend', caller: 'prometheus', typicalLatency: { meanMs: 3 } },
  customer: { spanName: '/customer', service: 'customer', caller: 'internal', typicalLatency: { meanMs: 300, upToMs: 330 } },
  driver: { spanName: 'driver.DriverService/FindNearest', service: 'driver', caller: 'internal', typicalLatency: { meanMs: 160, upToMs: 180 } },
  route: { spanName: '/route', service: 'route', caller: 'internal', typicalLatency: { meanMs: 50, upToMs: 60 } },
} as const satisfies Record<string, ServedEndpoint>;

/**
 * How long a finished HotROD span can wait in the SDK before it is exported: HotROD sets the
 * batch span processor's timeout to 1 s (examples/hotrod/pkg/tracing/init.go @ v1.76.0,
 * `sdktrace.WithBatchTimeout(1000*time.Millisecond)`).
 */
export const HOTROD_EXPORT_DELAY_MS = 1000;

/** HotROD (`all`): runs as root; serves its UI and `/metrics` on the frontend port. */
export const HOTROD_IMAGE = {
  repository: 'jaegertracing/example-hotrod',
  user: { name: 'root', uid: 0, why: 'FROM scratch with no USER' },
  // SPEC: HotROD exports traces over OTLP/HTTP (jaegertracing/jaeger examples/hotrod/pkg/tracing, otlptracehttp).
  otlpProtocol: OtlpProtocol.HTTP_PROTOBUF,
  // /metrics is wrapped in otelhttp (examples/hotrod/services/frontend/server.go @ v1.76.0): one server span per scrape
  scrapeSpanName: HOTROD_ENDPOINTS.metrics.spanName,
  exportDelayMs: HOTROD_EXPORT_DELAY_MS,
  endpoints: Object.values(HOTROD_ENDPOINTS),
  ports: { frontend: 8080, customer: 8081, route: 8083 },
  metrics: {
    port: 8080,
    path: '/metrics',
    series: [{
      name: HOTROD_REQUESTS_METRIC.name,
      labels: [HOTROD_REQUESTS_METRIC.endpointLabel, HOTROD_REQUESTS_METRIC.errorLabel],
      spanNameLabel: HOTROD_REQUESTS_METRIC.endpointLabel,
      failed: { label: HOTROD_REQUESTS_METRIC.errorLabel, value: HOTROD_REQUESTS_METRIC.errorValue },
    }],
  },
} as const satisfies ImageFacts;
