import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { gateWording, GateWording, NOTIFICATION_CONFIGMAP, subscriptionAnnotation, Verdict, VERDICT_TRIGGERS, verdictTemplate } from '../platform/argo-notifications';
import { Gate } from './canary-analysis';

/**
 * Where a verdict links to the canary's traces: a search of the traces backend's UI for the
 * service's spans from pods of the canary's pod-template hash (a resource attribute of every span,
 * the pipeline's pod identity).
 */
export class TraceSearch {
  /** Jaeger's UI: its search page, by service and a tag (Jaeger matches the resource attributes it stores as process tags). */
  public static jaeger(uiUrl: string): TraceSearch {
    return new TraceSearch(uiUrl, (base, service, attribute, hash) => {
      const tags = encodeURIComponent(JSON.stringify({ [attribute]: HASH_MARK })).replace(encodeURIComponent(HASH_MARK), hash);
      return `${base}/search?service=${encodeURIComponent(service)}&tags=${tags}&lookback=2h&limit=20`;
    });
  }

  /** Tempo, through Grafana's Explore: a TraceQL search by the same resource attributes. */
  public static tempo(grafanaUrl: string, datasourceUid: string): TraceSearch {
    return new TraceSearch(grafanaUrl, (base, service, attribute, hash) => {
      const traceql = `{resource.service.name="${service}" && resource."${attribute}"="${HASH_MARK}"}`;
      const pane = { t: { datasource: datasourceUid, queries: [{ refId: 'A', queryType: 'traceql', query: traceql }], range: { from: 'now-2h', to: 'now' } } };
      return `${base}/explore?schemaVersion=1&panes=${encodeURIComponent(JSON.stringify(pane)).replace(encodeURIComponent(HASH_MARK), hash)}`;
    });
  }

  private constructor(private readonly base: string, private readonly build: (base: string, service: string, attribute: string, hash: string) => string) {
    if (!/^https?:\/\/\S+[^/]$/.test(base)) throw new Error(`TraceSearch: '${base}' is not an http(s) URL without a trailing '/'`);
  }

  /** The link for a service's spans whose `attribute` is `hash` (a value, or a template expression). */
  public link(service: string, attribute: string, hash: string): string {
    return this.build(this.base, service, attribute, hash);
  }
}

const HASH_MARK = 'HASHMARK';

/**
 * A notification service of Argo Rollouts' notifications engine (argoproj/notifications-engine,
 * the commit argo-rollouts v1.8.3 pins: `service.<type>[.<name>]` keys of the ConfigMap).
 */
export class NotificationService {
  /** Slack, with the bot token in the notification Secret's key (`$<key>` in the ConfigMap); recipients are channels. */
  public static slack(options: { readonly tokenKey?: string } = {}): NotificationService {
    const key = options.tokenKey ?? 'slack-token';
    return new NotificationService('slack', 'service.slack', stringify({ token: `$${key}` }), (message) => ({ message }));
  }

  /** A webhook: the message as the plain-text body of a POST to the URL. */
  public static webhook(name: string, url: string): NotificationService {
    if (!/^https?:\/\/\S+$/.test(url)) throw new Error(`NotificationService.webhook: url '${url}' is not an http(s) URL`);
    return new NotificationService(name, `service.webhook.${name}`, stringify({ url, headers: [{ name: 'Content-Type', value: 'text/plain; charset=utf-8' }] }),
      (message) => ({ message, webhook: { [name]: { method: 'POST', body: message } } }));
  }

  private constructor(
    /** the name a subscription annotation uses */
    public readonly name: string,
    /** the ConfigMap key and value that configure it */
    public readonly configKey: string,
    public readonly configValue: string,
    private readonly templateOf: (message: string) => Record<string, unknown>,
  ) {}

  /** The template block of a message for this service. @internal */
  public _template(message: string): Record<string, unknown> {
    return this.templateOf(message);
  }
}

/** What the notifications describe: a rollout's gates and where its canary's spans are found. */
export interface NotificationTarget {
  /** the rollout's name */
  readonly name: string;
  /** its namespace */
  readonly namespace: string;
  /** the `service.name` of its user request spans */
  readonly traceService: string;
  /** the resource attribute carrying the pod-template hash on its spans */
  readonly hashAttribute: string;
}

/** Properties of {@link RolloutNotifications}. */
export interface RolloutNotificationsProps {
  readonly target: NotificationTarget;
  /** the gates, as rendered */
  readonly gates: readonly Gate[];
  /** where the messages go */
  readonly service: NotificationService;
  /** the recipients (Slack channels; for a webhook, any name) */
  readonly recipients: readonly string[];
  /** the traces backend's search */
  readonly traces: TraceSearch;
}

/**
 * Verdicts that speak: the `argo-rollouts-notification-configmap` of the rollout's namespace (read
 * by a controller started with `--self-service-notification-enabled`, besides its own: argo-rollouts
 * docs/features/notifications.md @ v1.8.3) with a trigger and a template per verdict, and the
 * subscription annotations on the Rollout. Each message names the deciding gate, its value and
 * threshold, the requests counted and a link to the canary's traces.
 */
export class RolloutNotifications extends Construct {
  public readonly configMap: kplus.ConfigMap;
  /** the annotations to put on the Rollout */
  public readonly annotations: Readonly<Record<string, string>>;
  /** the wording of each gate */
  public readonly wording: readonly GateWording[];
  /** the trace link, with the template expression of the canary's hash */
  public readonly tracesLink: string;

  constructor(scope: Construct, id: string, props: RolloutNotificationsProps) {
    super(scope, id);
    if (props.recipients.length === 0) throw new Error(`RolloutNotifications '${props.target.name}': recipients is empty; name who gets the verdicts`);
    const t = props.target;
    this.wording = props.gates.map((g) => gateWording({ name: g.name, kind: g.kind, threshold: g.threshold, quantile: g.quantile, bounds: g.design && { lower: g.design.test.lowerBound, upper: g.design.test.upperBound } }));
    this.tracesLink = props.traces.link(t.traceService, t.hashAttribute, '{{.rollout.status.currentPodHash}}');
    const data: Record<string, string> = { [props.service.configKey]: props.service.configValue };
    const annotations: Record<string, string> = {};
    for (const verdict of Object.values(Verdict)) {
      const template = `canary-${verdict}`;
      data[`trigger.${VERDICT_TRIGGERS[verdict]}`] = stringify([{ send: [template] }]);
      data[`template.${template}`] = stringify(props.service._template(verdictTemplate(verdict, `${t.namespace}/${t.name}`, this.wording, this.tracesLink)), { lineWidth: 0 });
      annotations[subscriptionAnnotation(VERDICT_TRIGGERS[verdict], props.service.name)] = props.recipients.join(';');
    }
    this.annotations = annotations;
    this.configMap = new kplus.ConfigMap(this, 'Resource', { metadata: { name: NOTIFICATION_CONFIGMAP }, data });
  }
}
