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
