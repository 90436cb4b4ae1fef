import { PROFILE_QUANTILES, ProfileQuantile } from '../platform/image-facts';

/*
 * What a service's stated healthy profile (its latency at some quantiles) says of the share of its
 * requests slower than a latency gate's bound: read by the rehearsal (its healthy canaries) and by
 * validate (a gate whose design would stop the healthy service).
 */

/**
 * The share of requests slower than `ms`, from latencies at some quantiles: the survival function
 * interpolated between them on log-log scales, and beyond them along the nearest segment (with one
 * quantile, a log-normal tail of spread 0.5 through it). Not a fact of the service: a smooth reading
 * of what it states.
 */
export function slowerShare(latencyMs: Readonly<Partial<Record<ProfileQuantile, number>>>, ms: number): number {
  const points = (Object.keys(PROFILE_QUANTILES) as ProfileQuantile[]).filter((q) => latencyMs[q] !== undefined)
    .map((q) => ({ x: Math.log(latencyMs[q]!), y: Math.log(1 - PROFILE_QUANTILES[q]) }));
  if (points.length === 0) return 0;
  const x = Math.log(ms);
  if (points.length === 1) {
    // a log-normal of spread 0.5 whose quantile is that latency
    const z = (x - points[0].x) / 0.5 + inverseNormal(1 - Math.exp(points[0].y));
    return Math.min(1, Math.max(0, 1 - normalCdf(z)));
  }
  const [a, b] = x <= points[0].x ? [points[0], points[1]] : x >= points[points.length - 1].x ? points.slice(-2)
    : [points[points.findIndex((p) => p.x >= x) - 1], points[points.findIndex((p) => p.x >= x)]];
  const slope = (b.y - a.y) / (b.x - a.x || 1e-9);
  return Math.min(1, Math.exp(a.y + slope * (x - a.x)));
}

/** The standard normal distribution function (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z) / Math.SQRT2);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** The inverse of {@link normalCdf}, by bisection (ample for the rehearsal's profiles). */
function inverseNormal(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
