import { BinomialSprt } from '../analysis/sequential';
import { slowerShare } from '../analysis/profile';
import { GateDesign } from '../model/gates';
import { analysisStepOf, canaries } from '../model/rollouts';
import { HistogramUnit } from '../platform/collector-config';
import { HealthyProfile } from '../platform/image-facts';
import { defineRules } from './define';
import { Severity } from './types';

/**
 * What the service states against what its gates assume. A sequential gate decides as its
 * requests come: its looks and horizon are derived from the canary's request rate, which is either
 * what the design asks for (a traffic generator must give it) or the service's real traffic (the
 * template states it in its design annotation); with neither a generator nor a stated rate,
 * nothing is known to send it. And a service that states how it behaves when healthy can be held
 * to its gates' designs: a gate whose design stops that behaviour would stop healthy releases.
 */
export const SERVICE_FACT_RULES = defineRules({
  'traffic/rate-unknown': "a canary's gates assume a request rate that no traffic generator of the manifests sends and the service does not state (warning)",
  'gates/stops-healthy': 'a gate stops the service as it states it behaves when healthy: an error when the healthy share of bad requests is at or past its threshold, a warning when it is past what its design takes as good and would be stopped more often than the design allows',
}, (model, report) => {
  for (const canary of canaries(model)) {
    const step = analysisStepOf(model, canary);
    if (!step) continue;
    for (const analysis of step.analyses) {
      const design = analysis.design;
      if (canary.generators.length === 0 && design?.canaryRequestsPerSecond && !design.rateStated) {
        report('traffic/rate-unknown', Severity.WARNING, model.refOf(analysis.template),
          `the gates of '${analysis.name}' look and stop looking as if Rollout ${canary.id}'s canary got ${Number(design.canaryRequestsPerSecond.toPrecision(3))} user requests per second `
          + '(what their design asks for), but no traffic generator of the manifests sends to it and the template states no real rate: '
          + 'with fewer requests, good canaries reach the horizon undecided and are paused',
          'add a traffic generator (ServiceSpec.trafficGenerator), or state the service\'s real request rate (ServiceSpec.expectedRequestsPerSecond) so the looks and the horizon follow it');
      }
      const healthy = canary.facts?.healthy;
      if (!healthy) continue;
      // the latency bound is in the unit of the spanmetrics histogram the canary's spans reach
      const units = [...new Set(canary.collectors.flatMap((c) => c.exportedSpanmetrics()).map((e) => e.series.histogramUnit))];
      const msPerUnit = units.length === 1 ? (units[0] === HistogramUnit.SECONDS ? 1000 : 1) : undefined;
      for (const [gate, g] of Object.entries(design?.gates ?? {})) {
        const stated = healthyShare(healthy, g, msPerUnit);
        if (!stated || stated.share <= g.good) continue;
        const sprt = BinomialSprt.of(g);
        const stops = sprt.behaviour(stated.share, sprt.horizonRequests()).stop;
        const atThreshold = stated.share >= g.threshold;
        // past good, but still within the chance of a wrong stop the design allows
        if (!atThreshold && stops <= g.falseStop) continue;
        const pct = (x: number) => `${Number((100 * x).toPrecision(2))}%`;
        report('gates/stops-healthy', atThreshold ? Severity.ERROR : Severity.WARNING, model.refOf(analysis.template),
          `Rollout ${canary.id}'s image states that healthy, ${stated.what} is ${pct(stated.share)}; gate '${gate}' of '${analysis.name}' `
          + `${atThreshold ? `stops at ${pct(g.threshold)}` : `takes ${pct(g.good)} as good (its threshold ${pct(g.threshold)})`}: `
          + `it would stop about ${pct(stops)} of healthy canaries (designed for ${pct(g.falseStop)} at good)`,
          `${stated.fix}${atThreshold ? '' : `, or take ${pct(stated.share)} or more as good (the gate's good option: ${stated.design})`}; or, if the service is better than it states, correct workload.healthy`);
      }
    }
  }
});

/** The share of bad requests a healthy service has at a gate, as its profile states it; undefined when it states nothing the gate counts. */
function healthyShare(healthy: HealthyProfile, g: GateDesign, msPerUnit: number | undefined): { share: number; what: string; fix: string; design: string } | undefined {
  if (g.vsStable) return undefined;
  if (g.latencyBound === undefined) {
    if (healthy.errorRatio === undefined) return undefined;
    return { share: healthy.errorRatio, what: 'the share of its requests that fail', fix: 'raise the gate\'s max (maxErrorRatio)', design: 'ServiceSpec.gates.errorRateDesign, or GateSpec.errorRatio({ good })' };
  }
  if (!healthy.latencyMs || msPerUnit === undefined) return undefined;
  const ms = g.latencyBound * msPerUnit;
  const quantiles = Object.entries(healthy.latencyMs).map(([q, v]) => `${q} ${Number(v!.toPrecision(4))}ms`).join(', ');
  return { share: slowerShare(healthy.latencyMs, ms), what: `the share of its requests slower than ${Number(ms.toPrecision(6))}ms (read from ${quantiles})`, fix: 'raise the gate\'s latency bound (max) or lower its quantile', design: 'ServiceSpec.gates.latencyDesign, or GateSpec.latency({ good })' };
}
