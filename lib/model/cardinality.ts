import { estimateSpanmetricsSeries, SeriesEstimate } from '../analysis/cardinality';
import { SPANMETRICS_DEFAULT_BUCKETS } from '../platform/collector-config';
import { componentType } from './collectors';
import { CanaryModel } from './rollouts';

/**
 * The spanmetrics series a canary's service adds at its collector: its span names (the endpoints
 * its image facts declare), 2 status codes, the pods of both ReplicaSets while a rollout is in
 * flight (the pod name is a dimension), the calls counter and each bucket, sum and count of the
 * histogram. Undefined when its spans reach no spanmetrics connector or its endpoints are unknown.
 */
export function seriesEstimateOf(canary: CanaryModel): SeriesEstimate | undefined {
  const collector = canary.collectors.find((x) => x.config.ids('connectors').some((id) => componentType(id) === 'spanmetrics'));
  const spanNames = canary.facts?.endpoints?.length;
  if (!collector || !spanNames) return undefined;
  const connector = collector.config.ids('connectors').find((id) => componentType(id) === 'spanmetrics')!;
  const explicit = (collector.config.configOf('connectors', connector).histogram as { explicit?: { buckets?: unknown[] } } | undefined)?.explicit?.buckets;
  return estimateSpanmetricsSeries(spanNames, 2 * canary.replicas, Array.isArray(explicit) ? explicit.length : SPANMETRICS_DEFAULT_BUCKETS.length);
}
