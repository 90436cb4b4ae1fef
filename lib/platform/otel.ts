import { Duration } from 'cdk8s';

/*
 * The OpenTelemetry SDK's environment: the variables the rollouts set and the model reads, each
 * named once (open-telemetry/opentelemetry-specification specification/configuration/
 * sdk-environment-variables.md and specification/protocol/exporter.md @ 00b192e).
 */

/** The SDK environment variables the platform sets or reads. */
export const OTEL_ENV = {
  /** where every signal is exported (a URL; OTLP/HTTP appends `/v1/traces`) */
  endpoint: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  /** where traces are exported, over the general one */
  tracesEndpoint: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  /** the OTLP protocol: `grpc`, `http/protobuf` or `http/json` */
  protocol: 'OTEL_EXPORTER_OTLP_PROTOCOL',
  /** the OTLP protocol of traces, over the general one */
  tracesProtocol: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  /** the `service.name` resource attribute */
  serviceName: 'OTEL_SERVICE_NAME',
  /** further resource attributes, `key=value,key=value` */
  resourceAttributes: 'OTEL_RESOURCE_ATTRIBUTES',
  /** the batch span processor's delay between exports, in ms */
  batchScheduleDelay: 'OTEL_BSP_SCHEDULE_DELAY',
} as const;

/** The variables that set where an SDK sends traces, most specific first. */
export const OTLP_ENDPOINT_VARS = [OTEL_ENV.tracesEndpoint, OTEL_ENV.endpoint] as const;

/** The variables that set the OTLP protocol, most specific first. */
export const OTLP_PROTOCOL_VARS = [OTEL_ENV.tracesProtocol, OTEL_ENV.protocol] as const;

/** The OTLP protocols an SDK speaks, as the protocol variables name them. */
export enum OtlpProtocol {
  GRPC = 'grpc',
  HTTP_PROTOBUF = 'http/protobuf',
  HTTP_JSON = 'http/json',
}

/** The protocol the specification makes the SDK default (many SDKs choose gRPC in code instead). */
export const SPEC_DEFAULT_OTLP_PROTOCOL = OtlpProtocol.HTTP_PROTOBUF;

/** The resource attribute that carries the service name. */
export const SERVICE_NAME_ATTRIBUTE = 'service.name';

/**
 * The SDK's default batch span processor delay (OTEL_BSP_SCHEDULE_DELAY, 5000 ms, "Batch Span
 * Processor" in sdk-environment-variables.md @ 00b192e): how long a finished span may wait before
 * it is exported when the app sets nothing else.
 */
export const OTEL_SDK_DEFAULT_EXPORT_DELAY = Duration.seconds(5);

/** The `key=value,...` pairs of OTEL_RESOURCE_ATTRIBUTES (values percent-decoded, as the specification has them). */
export function parseResourceAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const value = pair.slice(eq + 1).trim();
    let decoded = value;
    try { decoded = decodeURIComponent(value); } catch { /* kept as written */ }
    out.set(pair.slice(0, eq).trim(), decoded);
  }
  return out;
}
