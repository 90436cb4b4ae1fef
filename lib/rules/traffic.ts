import { analysisStepOf, canaries } from '../model/rollouts';
import { defineRules } from './define';
import { Severity } from './types';

/**
 * The traffic the gates' design counts on. A sequential gate decides as its requests come: its
 * looks and horizon are derived from the canary's request rate. That rate is either what the
 * design asks for, which a traffic generator must give, or the service's real traffic, which
 * the template states (its design annotation). With neither a generator nor a stated rate, nothing
 * is known to send it.
 */
export const TRAFFIC_RULES = defineRules({
  'traffic/rate-unknown': "a canary's gates assume a request rate that no traffic generator of the manifests sends and the service does not state (warning)",
}, (model, report) => {
  for (const canary of canaries(model)) {
    const step = analysisStepOf(model, canary);
    if (!step || canary.generators.length > 0) continue;
    for (const analysis of step.analyses) {
      const design = analysis.design;
      if (!design?.canaryRequestsPerSecond || design.rateStated) continue;
      report('traffic/rate-unknown', Severity.WARNING, model.refOf(analysis.template),
        `the gates of '${analysis.name}' look and stop looking as if Rollout ${canary.id}'s canary got ${Number(design.canaryRequestsPerSecond.toPrecision(3))} user requests per second `
        + '(what their design asks for), but no traffic generator of the manifests sends to it and the template states no real rate: '
        + 'with fewer requests, good canaries reach the horizon undecided and are paused',
        'add a traffic generator (ServiceSpec.trafficGenerator), or state the service\'s real request rate (ServiceSpec.expectedRequestsPerSecond) so the looks and the horizon follow it');
    }
  }
});
