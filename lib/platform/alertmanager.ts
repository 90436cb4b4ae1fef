/*
 * Alertmanager's routing tree as plain data, how prometheus-operator turns AlertmanagerConfig
 * objects into it, and how Alertmanager picks receivers from it: what the routing tests check
 * the generated objects with (and amtool, where it is installed, checks the same trees).
 */

/** A label matcher: `name<op>"value"`. */
export interface LabelMatcher {
  readonly name: string;
  readonly value: string;
  /** @default '=' */
  readonly matchType?: '=' | '!=' | '=~' | '!~';
}

/** A node of the routing tree, in Alertmanager's own configuration terms. */
export interface RouteNode {
  readonly receiver?: string;
  readonly matchers?: readonly string[];
  readonly continue?: boolean;
  readonly group_by?: readonly string[];
  readonly group_wait?: string;
  readonly group_interval?: string;
  readonly repeat_interval?: string;
  readonly routes?: readonly RouteNode[];
}

/** A matcher as Alertmanager's configuration writes it: `severity="page"`. */
export function matcherText(m: LabelMatcher): string {
  return `${m.name}${m.matchType ?? '='}${JSON.stringify(m.value)}`;
}

/** Parses `name<op>"value"` (the form {@link matcherText} writes). */
export function parseMatcher(text: string): LabelMatcher {
  const m = /^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"((?:[^"\\]|\\.)*)"$/.exec(text);
  if (!m) throw new Error(`matcher '${text}' is not name<op>"value"`);
  return { name: m[1], matchType: m[2] as LabelMatcher['matchType'], value: JSON.parse(`"${m[3]}"`) as string };
}

/** Whether a label set meets a matcher (an absent label is the empty string; regexes are anchored). */
export function matches(m: LabelMatcher, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[m.name] ?? '';
  switch (m.matchType ?? '=') {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~': return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

/**
 * The receivers Alertmanager sends an alert with these labels to, in tree order: a route that
 * matches hands the alert to its first matching child (and on past a child with `continue`), and
 * keeps it when none matches; the root matches everything
 * (prometheus/alertmanager dispatch/route.go Route.Match @ v0.25.0, as `amtool config routes test` resolves it).
 */
export function routeReceivers(root: RouteNode, labels: Readonly<Record<string, string>>): string[] {
  const visit = (node: RouteNode, inherited: string): string[] => {
    const receiver = node.receiver ?? inherited;
    const out: string[] = [];
    for (const child of node.routes ?? []) {
      if (!(child.matchers ?? []).map(parseMatcher).every((m) => matches(m, labels))) continue;
      out.push(...visit(child, receiver));
      if (!child.continue) break;
    }
    return out.length > 0 ? out : [receiver];
  };
  return visit(root, root.receiver ?? '');
}

/** An AlertmanagerConfig (monitoring.coreos.com/v1alpha1) as plain data: the fields routing reads. */
export interface AlertmanagerConfigObject {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: {
    readonly route: OperatorRoute;
    readonly receivers: readonly { readonly name: string }[];
  };
}

/** A route of an AlertmanagerConfig. */
export interface OperatorRoute {
  readonly receiver?: string;
  readonly matchers?: readonly LabelMatcher[];
  readonly continue?: boolean;
  readonly groupBy?: readonly string[];
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
  readonly routes?: readonly OperatorRoute[];
}

/**
 * The routing tree prometheus-operator makes of AlertmanagerConfig objects under a base route, with
 * its default `OnNamespace` matcher strategy (prometheus-operator pkg/alertmanager/amcfg.go
 * @ v0.93.0, which kube-prometheus-stack 88.5.3 runs as v0.93.1): each object's top route gets the
 * matcher `namespace="<its namespace>"` and `continue: true`, its receivers are renamed
 * `<namespace>/<object>/<receiver>`, and the objects' routes come before the base route's own.
 */
export function operatorRouteTree(objects: readonly AlertmanagerConfigObject[], base: RouteNode = { receiver: 'null' }): RouteNode {
  const routes = objects.map((o) => {
    const ns = o.metadata.namespace;
    const route = plainRoute(o.spec.route, (name) => `${ns}/${o.metadata.name}/${name}`);
    return { ...route, matchers: [...(route.matchers ?? []), matcherText({ name: 'namespace', value: ns })], continue: true };
  });
  return { ...base, routes: [...routes, ...(base.routes ?? [])] };
}

/** An AlertmanagerConfig route as Alertmanager's configuration writes it, receivers renamed by `rename`. */
export function plainRoute(r: OperatorRoute, rename: (receiver: string) => string = (n) => n): RouteNode {
  return {
    ...(r.receiver ? { receiver: rename(r.receiver) } : {}),
    ...(r.groupBy ? { group_by: [...r.groupBy] } : {}),
    ...(r.groupWait ? { group_wait: r.groupWait } : {}),
    ...(r.groupInterval ? { group_interval: r.groupInterval } : {}),
    ...(r.repeatInterval ? { repeat_interval: r.repeatInterval } : {}),
    matchers: (r.matchers ?? []).map(matcherText),
    ...(r.continue ? { continue: true } : {}),
    ...(r.routes ? { routes: r.routes.map((c) => plainRoute(c, rename)) } : {}),
  };
}

/** The receivers of the objects as the operator names them, for a configuration amtool can read. */
export function operatorReceiverNames(objects: readonly AlertmanagerConfigObject[]): string[] {
  return objects.flatMap((o) => o.spec.receivers.map((r) => `${o.metadata.namespace}/${o.metadata.name}/${r.name}`));
}
