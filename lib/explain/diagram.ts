import { RolloutExplanation } from './sources';

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

/**
 * The Mermaid flowchart of how telemetry, traffic, gates and deployment connect for one rollout,
 * drawn from what the model read: a part the manifests do not have (no generator, no collector
 * the spans reach) is left out of the picture.
 */
export function wiringDiagram(x: RolloutExplanation): string {
  const lines: string[] = ['flowchart LR'];
  const node = (id: string, label: string, shape: '[]' | '[()]' | '{{}}' | '([])' = '[]') =>
    lines.push(`  ${id}${shape.slice(0, shape.length / 2)}${mermaidLabel(label)}${shape.slice(shape.length / 2)}`);
  const edge = (from: string, to: string, label?: string) =>
    lines.push(label ? `  ${from} -->|${mermaidLabel(label)}| ${to}` : `  ${from} --> ${to}`);

  const entry = x.service ? 'service' : 'rollout';
  if (x.generator) {
    const gen = x.generator;
    node('generator', `${gen.kind} ${gen.name}\n(namespace ${gen.namespace})`);
    edge('generator', entry, `HTTP :${gen.port}\n${list(gen.paths)}\n${gen.perRound === 1 ? 'one' : `${gen.perRound} requests`} every ${gen.everySeconds} s`);
  }
  if (x.service) node('service', `Service ${x.service.name} :${x.service.port}\n${x.service.url}`);
  node('rollout', `Rollout ${x.name} (namespace ${x.namespace})\n${x.image}, ${x.replicas} pods`);
  if (x.service) edge('service', 'rollout');

  const c = x.collector;
  if (c) {
    lines.push(`  subgraph collector[${mermaidLabel(`${c.kind} ${c.name} (namespace ${c.namespace})`)}]`);
    node('receiver', `receiver ${c.receiver.id}\n${c.receiver.ports}`);
    node('spanmetrics', `connector ${c.connector.id}\n${c.connector.series}`);
    node('promExporter', `exporter ${c.exporter.id}\n:${c.exporter.port}${c.exporter.path}`);
    if (c.tracesExporter) node('tracesExporter', `exporter ${c.tracesExporter.id}`);
    lines.push('  end');
    if (x.otlp) edge('rollout', 'receiver', `${x.otlp.protocol} :${x.otlp.port}\n${x.otlp.url}`);
    if (c.tracesExporter) {
      edge('receiver', 'tracesExporter', 'traces pipeline');
      const [host, port] = [c.tracesExporter.endpoint.replace(/:\d+$/, ''), c.tracesExporter.endpoint.split(':').pop()];
      node('tracesBackend', `traces backend\n${host}`, '[()]');
      edge('tracesExporter', 'tracesBackend', `OTLP/gRPC :${port}`);
    }
    edge('receiver', 'spanmetrics', 'traces pipeline');
    edge('spanmetrics', 'promExporter', 'metrics pipeline');
  }

  node('prometheus', `Prometheus\n${x.prometheus.address}`, '[()]');
  if (c) edge('promExporter', 'prometheus', `scrape :${c.exporter.port}${c.exporter.path}`);
  if (x.podScrape) edge('rollout', 'prometheus', `scrape :${x.podScrape.port}${x.podScrape.path}${x.podScrape.counter ? `\n${x.podScrape.counter}` : ''}`);

  const step = 'analysisStep';
  node(step, `step ${x.analysisStep}: analysis ${x.templateName}\nat ${x.analysisWeight}% canary`, '{{}}');
  for (const g of x.gates) {
    const id = nodeId('gate', g.name);
    node(id, `gate ${g.name}\n${g.successCondition}`);
    edge('prometheus', id, 'PromQL');
    edge(id, step);
  }
  node('promote', `promote: ${x.promoteWeights.map((w) => `setWeight ${w}`).join(', ') || 'done'}`, '([])');
  node('abort', 'abort: back to the stable pods', '([])');
  edge(step, 'promote', 'all gates Successful');
  edge(step, 'abort', 'a gate Failed or Error');

  for (const appSet of x.appSets) {
    const id = nodeId('appSet', appSet.name);
    node(id, `ApplicationSet ${appSet.name} (namespace ${appSet.namespace})`);
    for (const app of appSet.apps) {
      const appId = nodeId('app', `${appSet.name}_${app.name}`);
      node(appId, `Application ${app.name}\n${app.path} -> namespace ${app.namespace}`);
      edge(id, appId, 'git directory');
    }
  }
  return lines.join('\n');
}
