/*
 * How many Prometheus series spanmetrics makes for a service: every combination of its label
 * values is a series of the calls counter and of each histogram bucket, sum and count. The pod
 * name and pod-template hash dimensions multiply by the pods, and the connector keeps a series
 * until the collector restarts (metrics_expiration 0): every rollout adds its pods' series.
 */

/** Span and resource attributes whose values are unbounded: as a spanmetrics dimension each value is new series. */
export const HIGH_CARDINALITY_ATTRIBUTES: Readonly<Record<string, string>> = {
  'user.id': 'a user id', 'enduser.id': 'a user id', 'session.id': 'a session id',
  'http.url': 'a full URL (query strings, ids)', 'url.full': 'a full URL (query strings, ids)', 'http.target': 'a URL path with its query', 'url.query': 'a query string',
  'trace_id': 'a trace id', 'trace.id': 'a trace id', 'span_id': 'a span id', 'span.id': 'a span id',
  'client.address': 'a client address', 'http.client_ip': 'a client address', 'net.sock.peer.addr': 'a peer address', 'client.port': 'a client port', 'net.sock.peer.port': 'a peer port',
  'db.statement': 'a database statement', 'db.query.text': 'a database statement',
};

/** The series estimate of one service's spanmetrics. */
export interface SeriesEstimate {
  readonly spanNames: number;
  readonly statusCodes: number;
  readonly pods: number;
  /** series per label combination: the calls counter, each bucket (+Inf included), sum and count */
  readonly perCombination: number;
  readonly total: number;
}

/**
 * The series a service adds: span names x status codes (unset, error) x pods x (calls + buckets +
 * +Inf + sum + count). `pods` should count both ReplicaSets of a rollout in flight.
 */
export function estimateSpanmetricsSeries(spanNames: number, pods: number, finiteBuckets: number, statusCodes = 2): SeriesEstimate {
  const perCombination = 1 + finiteBuckets + 1 + 2;
  return { spanNames, statusCodes, pods, perCombination, total: spanNames * statusCodes * pods * perCombination };
}

/** One line: `hotrod: 5 span names x 2 status codes x 4 pods x 21 series = 840`. */
export function formatEstimate(service: string, e: SeriesEstimate): string {
  return `${service}: ${e.spanNames} span names x ${e.statusCodes} status codes x ${e.pods} pods x ${e.perCombination} series (calls, ${e.perCombination - 3} buckets, sum, count) = ${e.total} series`;
}
