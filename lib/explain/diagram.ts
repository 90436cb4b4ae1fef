import { Chart } from 'cdk8s';
import { CanaryRollout } from '../constructs/canary-rollout';
import { ListenerProtocol, OtlpExporter } from '../platform/collector-config';
import { HotrodAppSet } from '../constructs/hotrod-app-set';
import { OtelCollectorDaemonSet } from '../constructs/otel-collector-daemon-set';
import { SpanmetricsPipeline } from '../constructs/spanmetrics-pipeline';
import { CanaryAnalysis } from '../constructs/canary-analysis';
import { TrafficGenerator } from '../constructs/traffic-generator';
import { namespaceOf } from '../util';

/** The constructs a wiring diagram is drawn from. */
export interface WiringSources {
  readonly pipeline: SpanmetricsPipeline;
  readonly collector: OtelCollectorDaemonSet;
  readonly rollout: CanaryRollout;
  readonly gates: CanaryAnalysis;
  /** the traffic generator, if the stack has one */
  readonly generator?: TrafficGenerator;
  /** the ApplicationSet, if the stack has one */
  readonly appSet?: HotrodAppSet;
}

/** A Mermaid label: quoted, with quotes and HTML characters as entity codes and line breaks as `<br/>`. */
export function mermaidLabel(text: string): string {
  const escaped = text.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
  return `"${escaped.replace(/\n/g, '<br/>')}"`;
}

/** A Mermaid node id from any text. */
function nodeId(prefix: string, text: string): string {
  return `${prefix}_${text.replace(/[^A-Za-z0-9]+/g, '_')}`;
}

/** `a` or `a, b and c`. */
function list(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** The Mermaid flowchart of how telemetry, traffic, gates and deployment connect. */
export function wiringDiagram(s: WiringSources): string {
  const lines: string[] = ['flowchart LR'];
  const node = (id: string, label: string, shape: '[]' | '[()]' | '{{}}' | '([])' = '[]') =>
    lines.push(`  ${id}${shape.slice(0, shape.length / 2)}${mermaidLabel(label)}${shape.slice(shape.length / 2)}`);
  const edge = (from: string, to: string, label?: string) =>
    lines.push(label ? `  ${from} -->|${mermaidLabel(label)}| ${to}` : `  ${from} --> ${to}`);

  const { pipeline, collector, rollout, gates } = s;
  const listener = (protocol: ListenerProtocol) => collector.servicePort(protocol);
  const jaeger = pipeline.config.components().find((c): c is OtlpExporter => c instanceof OtlpExporter);
  const prom = pipeline.prometheusExporter;
  const hotrodNs = rollout.namespace;
  const collectorNs = namespaceOf(collector.service);
  const analysisStep = rollout.analysisSteps().find((a) => a.analysis.templateName === gates.templateName);
  const stepIndex = rollout.steps.findIndex((st) => st.isAnalysis) + 1;
  const nextWeights = rollout.steps.slice(stepIndex).map((st) => st.weight).filter((w): w is number => w !== undefined);

  if (s.generator) {
    const gen = s.generator;
    node('generator', `Deployment ${gen.deployment.name}\n(namespace ${namespaceOf(gen.deployment)})`);
    edge('generator', 'hotrodSvc', `HTTP :${new URL(gen.targetUrl).port}\n${list(gen.paths)}\none every ${gen.requestInterval.toMilliseconds() / 1000} s`);
  }
  node('hotrodSvc', `Service ${rollout.service.name} :${rollout.servicePort}\n${rollout.url}`);
  node('rollout', `Rollout ${rollout.rollout.name} (namespace ${hotrodNs})\n${rollout.image.repository}:${rollout.image.tag}, ${rollout.replicas} pods`);
  edge('hotrodSvc', 'rollout');

  lines.push(`  subgraph collector[${mermaidLabel(`DaemonSet ${collector.daemonSet.name} (namespace ${collectorNs})`)}]`);
  node('otlpReceiver', `receiver ${pipeline.otlpReceiver.id}\nOTLP/HTTP :${pipeline.otlpHttpPort}, OTLP/gRPC :${pipeline.otlpGrpcPort}`);
  node('spanmetrics', `connector ${pipeline.spanmetrics.id}\n${pipeline.series.durationBucket}`);
  node('promExporter', `exporter ${prom.id}\n:${prom.bind.port}${prom.path}`);
  if (jaeger) node('jaegerExporter', `exporter ${jaeger.id}`);
  lines.push('  end');

  edge('rollout', 'otlpReceiver', `OTLP/HTTP :${listener(ListenerProtocol.OTLP_HTTP).port}\n${collector.otlpHttpEndpoint}`);
  if (jaeger) {
    edge('otlpReceiver', 'jaegerExporter', 'traces pipeline');
    node('jaeger', `Jaeger\n${jaeger.endpoint.replace(/:\d+$/, '')}`, '[()]');
    edge('jaegerExporter', 'jaeger', `OTLP/gRPC :${jaeger.endpoint.split(':').pop()}`);
  }
  edge('otlpReceiver', 'spanmetrics', 'traces pipeline');
  edge('spanmetrics', 'promExporter', 'metrics pipeline');

  node('prometheus', `Prometheus\n${gates.prometheusAddress}`, '[()]');
  edge('promExporter', 'prometheus', `scrape :${prom.bind.port}${prom.path}`);
  if (rollout.metricsPort) {
    edge('rollout', 'prometheus', `scrape :${rollout.metricsPort.number}${rollout.metricsPort.path}${rollout.requestsMetric ? `\n${rollout.requestsMetric.name}` : ''}`);
  }

  const step = 'analysisStep';
  node(step, `step ${stepIndex}: analysis ${gates.templateName}\nat ${analysisStep?.weight ?? 0}% canary`, '{{}}');
  for (const g of gates.gates) {
    const id = nodeId('gate', g.name);
    node(id, `gate ${g.name}\n${g.successCondition}`);
    edge('prometheus', id, 'PromQL');
    edge(id, step);
  }
  node('promote', `promote: ${nextWeights.map((w) => `setWeight ${w}`).join(', ') || 'done'}`, '([])');
  node('abort', 'abort: back to the stable pods', '([])');
  edge(step, 'promote', 'all gates Successful');
  edge(step, 'abort', 'a gate Failed or Error');

  if (s.appSet) {
    const appSetChart = Chart.of(s.appSet);
    node('appSet', `ApplicationSet ${s.appSet.applicationSet.name} (namespace ${appSetChart.namespace})`);
    for (const path of s.appSet.appPaths) {
      const name = path.split('/').pop()!;
      const id = nodeId('app', name);
      node(id, `Application ${name}\n${path} -> namespace ${name}`);
      edge('appSet', id, 'git directory');
    }
  }
  return lines.join('\n');
}
