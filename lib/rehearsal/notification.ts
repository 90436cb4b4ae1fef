import { BinomialSprt } from '../analysis/sequential';
import { MeasurementResult } from '../analysis/condition';
import { Manifest } from '../manifests';
import { GateKind } from '../model/gates';
import { gateWording, NOTIFICATION_CONFIGMAP, Verdict, verdictMessage } from '../platform/argo-notifications';
import { RunOutcome } from './argo-replay';
import { RehearsalTarget } from './target';

/** The pod-template hash a rehearsal's canary has, in its messages. */
export const REHEARSAL_CANARY_HASH = 'rehearsal-canary';

/** The trace links of the notification templates in some manifests, by namespace (with `{{...currentPodHash}}` in place of the hash). */
export function traceLinksOf(manifests: readonly { readonly object: Manifest }[]): Map<string, string> {
  const links = new Map<string, string>();
  for (const { object } of manifests) {
    if (object.kind !== 'ConfigMap' || object.metadata?.name !== NOTIFICATION_CONFIGMAP) continue;
    const data = (object as { data?: Record<string, string> }).data ?? {};
    const link = Object.values(data).map((t) => /Traces of the canary: (\S+)/.exec(t)?.[1]).find((x) => x);
    if (link) links.set(object.metadata?.namespace ?? '', link);
  }
  return links;
}

function lastValue(result: MeasurementResult | undefined): string {
  if (result === undefined) return 'error';
  const v = Array.isArray(result) ? result[0] : result;
  return v === undefined ? 'empty' : String(Number(v.toPrecision(12)));
}

/**
 * The message the notifications of a rollout would send for a rehearsed run: the same sentence the
 * notification templates render (lib/platform/argo-notifications.ts), with the run's deciding gate,
 * its last measured value, its threshold, the traffic gate's count and the trace link of the
 * target's template (the canary's hash is {@link REHEARSAL_CANARY_HASH}); undefined while the run
 * is still Running.
 */
export function notificationMessage(outcome: RunOutcome, target: RehearsalTarget, traceLink?: string): string | undefined {
  const verdict = outcome.verdict === 'Successful' ? Verdict.PROMOTED : outcome.verdict === 'Inconclusive' ? Verdict.PAUSED
    : outcome.verdict === 'Running' ? undefined : Verdict.ABORTED;
  if (!verdict) return undefined;
  const gate = target.gates.find((g) => g.name === outcome.decidingGate);
  const facts = gate && {
    name: gate.name,
    kind: gate.kind,
    threshold: gate.kind === GateKind.TRAFFIC ? gate.threshold?.value ?? 0
      : gate.kind === GateKind.LATENCY ? gate.design?.latencyBound ?? gate.threshold?.value ?? 0
        : gate.design?.vsStable ? gate.design.vsStable.maxFactor : gate.design?.threshold ?? gate.threshold?.value ?? 0,
    quantile: gate.quantile,
    bounds: gate.design && (() => {
      const t = BinomialSprt.of(gate.design);
      return { lower: t.lowerBound, upper: t.upperBound };
    })(),
  };
  const wording = facts ? gateWording(facts) : { threshold: '', meaning: '' };
  const measured = (name: string | undefined) => {
    const g = outcome.gates.find((x) => x.name === name);
    return g && g.measurements.length > 0 ? lastValue(g.measurements[g.measurements.length - 1].result) : '(not yet counted)';
  };
  const traffic = target.gates.find((g) => g.kind === GateKind.TRAFFIC);
  return verdictMessage({
    rollout: target.rollout,
    verdict,
    gate: outcome.decidingGate || '(none recorded)',
    phase: outcome.gates.find((g) => g.name === outcome.decidingGate)?.phase ?? outcome.verdict,
    value: measured(outcome.decidingGate),
    meaning: wording.meaning,
    threshold: wording.threshold,
    requests: traffic ? measured(traffic.name) : '(unknown)',
    traces: (traceLink ?? '(no notification template in the manifests)').replace('{{.rollout.status.currentPodHash}}', REHEARSAL_CANARY_HASH),
  });
}
