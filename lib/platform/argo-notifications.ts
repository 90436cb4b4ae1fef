import { GateKind } from '../model/gates';

/*
 * What a verdict says, in one place: the Argo Rollouts notification templates (Go text/template
 * with sprig, evaluated by the controller with `.rollout` and `.analysisRuns`) and the rehearsal's
 * printout render the same sentence from the same function, with Go template expressions in one
 * case and the values a scenario measured in the other.
 */

/** The verdicts that notify: aborted (a gate Failed or Error), paused (a gate Inconclusive), promoted. */
export enum Verdict {
  ABORTED = 'aborted',
  PAUSED = 'paused',
  PROMOTED = 'promoted',
}

/** The parts of a verdict message, each plain text or a template expression. */
export interface VerdictFields {
  /** `namespace/name` of the rollout */
  readonly rollout: string;
  readonly verdict: Verdict;
  /** the gate that decided */
  readonly gate: string;
  /** its phase (Failed, Error, Inconclusive, Successful) */
  readonly phase: string;
  /** its last measured value */
  readonly value: string;
  /** what the value means: the statistic and its bounds */
  readonly meaning: string;
  /** the threshold the gate states */
  readonly threshold: string;
  /** the user requests the canary had served by its last look (the traffic gate's count) */
  readonly requests: string;
  /** a link to the canary's traces */
  readonly traces: string;
}

const HEADLINE: Record<Verdict, string> = {
  [Verdict.ABORTED]: 'aborted: back to the stable pods',
  [Verdict.PAUSED]: 'paused: a person decides (promote or abort)',
  [Verdict.PROMOTED]: 'promoted',
};

/** The message of a verdict. */
export function verdictMessage(f: VerdictFields): string {
  return [
    `Canary of ${f.rollout} ${HEADLINE[f.verdict]}.`,
    `Deciding gate: ${f.gate}, ${f.phase}, measured ${f.value} (${f.meaning}); threshold: ${f.threshold}.`,
    `Evidence: ${f.requests} user requests counted by the traffic gate.`,
    `Traces of the canary: ${f.traces}`,
  ].join('\n');
}

/** A gate as a message describes it: its threshold and the meaning of its measured value. */
export interface GateWording {
  readonly name: string;
  readonly threshold: string;
  readonly meaning: string;
  /** whether it is the traffic gate (its value is the requests counted) */
  readonly counts: boolean;
}

/** What a message needs to know of a gate. */
export interface GateFacts {
  readonly name: string;
  readonly kind?: GateKind;
  /** the gate's threshold in its own terms: requests (traffic), a share (error rate), a latency in ms, a factor, a custom number */
  readonly threshold: number;
  readonly quantile?: number;
  /** a sequential gate's bounds on its log-likelihood ratio */
  readonly bounds?: { readonly lower: number; readonly upper: number };
}

/** How a gate is worded in a verdict. */
export function gateWording(g: GateFacts): GateWording {
  const pct = (x: number) => `${Number((x * 100).toPrecision(4))}%`;
  const meaning = g.bounds ? `log-likelihood ratio of the sequential test: stops at >= ${num(g.bounds.upper)}, promotes at <= ${num(g.bounds.lower)}` : 'the query\'s result';
  switch (g.kind) {
    case GateKind.TRAFFIC: return { name: g.name, threshold: `at least ${num(g.threshold)} user requests`, meaning: 'user requests served by the canary', counts: true };
    case GateKind.ERROR_RATE: return { name: g.name, threshold: `${pct(g.threshold)} of requests failed`, meaning, counts: false };
    case GateKind.LATENCY: return { name: g.name, threshold: `p${Number(((g.quantile ?? 0.95) * 100).toPrecision(4))} below ${num(g.threshold)} ms`, meaning, counts: false };
    case GateKind.ERROR_RATE_VS_STABLE: return { name: g.name, threshold: `error ratio below ${num(g.threshold)} x the stable pods'`, meaning, counts: false };
    default: return { name: g.name, threshold: num(g.threshold), meaning, counts: false };
  }
}

function num(n: number): string {
  return Number(n.toPrecision(6)).toString();
}

/** A Go template string literal. */
function goString(s: string): string {
  return JSON.stringify(s);
}

/**
 * The Go template of a verdict's message: it finds, in the newest AnalysisRun of the canary's
 * revision (`.analysisRuns`, newest first, which the controller passes to templates: argo-rollouts
 * utils/record/record.go @ v1.8.3), the first metric in the phases given, its last measurement,
 * and the traffic gate's last count.
 */
export function verdictTemplate(verdict: Verdict, rollout: string, gates: readonly GateWording[], tracesLink: string): string {
  const dict = (pick: (g: GateWording) => string) => `(dict ${gates.map((g) => `${goString(g.name)} ${goString(pick(g))}`).join(' ')})`;
  const traffic = gates.find((g) => g.counts)?.name ?? '';
  const phases = verdict === Verdict.ABORTED ? '"Failed" "Error"' : verdict === Verdict.PAUSED ? '"Inconclusive"' : '"Successful"';
  const head = [
    '{{- $gate := "(none recorded)" }}{{ $phase := "" }}{{ $value := "" }}{{ $requests := "(unknown)" -}}',
    '{{- with .analysisRuns }}{{ with index . 0 }}{{ with .status }}{{ range .metricResults }}',
    '{{- $last := "" }}{{ with .measurements }}{{ $last = trimAll "[]" (toString (last .).value) }}{{ end }}',
    `{{- if eq .name ${goString(traffic)} }}{{ $requests = $last }}{{ end }}`,
    `{{- if and (eq $phase "") (has .phase (list ${phases})) }}{{ $gate = .name }}{{ $phase = .phase }}{{ $value = $last }}{{ end }}`,
    '{{- end }}{{ end }}{{ end }}{{ end -}}',
    `{{- $thresholds := ${dict((g) => g.threshold)} }}{{ $meanings := ${dict((g) => g.meaning)} -}}`,
  ].join('\n');
  const body = verdictMessage({
    rollout,
    verdict,
    gate: '{{ $gate }}',
    phase: '{{ $phase }}',
    value: '{{ $value }}',
    meaning: '{{ get $meanings $gate }}',
    threshold: '{{ get $thresholds $gate }}',
    requests: '{{ $requests }}',
    traces: tracesLink,
  });
  return `${head}\n${body}`;
}

/** The Rollout annotation that subscribes a recipient of a notification service to a trigger. */
export function subscriptionAnnotation(trigger: string, service: string): string {
  return `notifications.argoproj.io/subscribe.${trigger}.${service}`;
}

/**
 * The triggers of each verdict: names the controller derives from the events it emits on the
 * Rollout (`on-` + the kebab-cased reason: RolloutAborted, AnalysisRunInconclusive,
 * RolloutCompleted; argo-rollouts utils/record/record.go and rollout/analysis.go @ v1.8.3), so they
 * fire without a `when` condition.
 */
export const VERDICT_TRIGGERS: Readonly<Record<Verdict, string>> = {
  [Verdict.ABORTED]: 'on-rollout-aborted',
  [Verdict.PAUSED]: 'on-analysis-run-inconclusive',
  [Verdict.PROMOTED]: 'on-rollout-completed',
};

/** The notification ConfigMap's name, which the controller reads (argo-rollouts utils/record/record.go @ v1.8.3). */
export const NOTIFICATION_CONFIGMAP = 'argo-rollouts-notification-configmap';
