import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { LabelMatcher, OperatorRoute, plainRoute, RouteNode } from '../platform/alertmanager';
import { PROMETHEUS_OPERATOR_GROUP } from '../platform/metrics-backend';
import { AlertSeverity, SLO_LABELS } from '../platform/slo';
import { validateName } from '../util';

/** A Secret key (of the AlertmanagerConfig's namespace) that holds a credential. */
export interface SecretKey {
  readonly name: string;
  readonly key: string;
}

/**
 * Where Alertmanager sends alerts: one integration per receiver. The same receiver renders as an
 * AlertmanagerConfig receiver (prometheus-operator pkg/apis/monitoring/v1alpha1/alertmanager_config_types.go
 * @ v0.93.0: secrets are Secret keys of the object's namespace) and as a plain Alertmanager receiver
 * (prometheus/alertmanager config/notifiers.go @ v0.31.1, the community chart's: credentials are files).
 */
export class AlertReceiver {
  /** A webhook: Alertmanager POSTs its JSON to the URL. */
  public static webhook(name: string, url: string): AlertReceiver {
    if (!/^https?:\/\/\S+$/.test(url)) throw new Error(`AlertReceiver.webhook: url '${url}' of receiver '${name}' is not an http(s) URL`);
    return new AlertReceiver(name, { webhookConfigs: [{ url, sendResolved: true }] }, () => ({ webhook_configs: [{ url, send_resolved: true }] }));
  }

  /** A Slack channel, through an incoming-webhook URL kept in a Secret. */
  public static slack(name: string, options: { readonly channel: string; readonly apiUrl: SecretKey }): AlertReceiver {
    if (!/^#?[a-z0-9][-_a-z0-9]*$/.test(options.channel)) throw new Error(`AlertReceiver.slack: channel '${options.channel}' of receiver '${name}' is not a Slack channel name such as '#checkout-alerts'`);
    return new AlertReceiver(name, { slackConfigs: [{ channel: options.channel, apiURL: { ...options.apiUrl }, sendResolved: true }] },
      (dir) => ({ slack_configs: [{ channel: options.channel, api_url_file: `${dir}/${options.apiUrl.name}/${options.apiUrl.key}`, send_resolved: true }] }));
  }

  /** PagerDuty (Events API v2), with the routing key kept in a Secret. */
  public static pagerDuty(name: string, options: { readonly routingKey: SecretKey }): AlertReceiver {
    return new AlertReceiver(name, { pagerdutyConfigs: [{ routingKey: { ...options.routingKey }, sendResolved: true }] },
      (dir) => ({ pagerduty_configs: [{ routing_key_file: `${dir}/${options.routingKey.name}/${options.routingKey.key}`, send_resolved: true }] }));
  }

  /** No integration: alerts routed here are dropped (a placeholder until the team names its own). */
  public static none(name: string): AlertReceiver {
    return new AlertReceiver(name, {}, () => ({}));
  }

  private constructor(
    /** the receiver's name */
    public readonly name: string,
    private readonly operatorSpec: Record<string, unknown>,
    private readonly plainSpec: (secretsDir: string) => Record<string, unknown>,
  ) {
    validateName('AlertReceiver', 'name', name);
  }

  /** The receiver of an AlertmanagerConfig. */
  public toOperator(): Record<string, unknown> {
    return { name: this.name, ...this.operatorSpec };
  }

  /** The receiver of a plain Alertmanager configuration; Secret keys become files under secretsDir/<secret>/<key>. */
  public toAlertmanager(secretsDir: string): Record<string, unknown> {
    return { name: this.name, ...this.plainSpec(secretsDir) };
  }
}

/** Who gets a team's alerts in an environment: a receiver per severity. */
export interface TeamReceivers {
  /** where pages go (the burn rates that empty the budget in days) */
  readonly page: AlertReceiver;
  /** where tickets go (slow burns, telemetry gone) */
  readonly ticket: AlertReceiver;
}

/** Properties of an {@link AlertRouting}. */
export interface AlertRoutingProps {
  /** the team (or tenant) whose alerts it routes: the value of `teamLabel` */
  readonly team: string;
  /** the label carrying the team on every alert @default 'team' */
  readonly teamLabel?: string;
  /** the environment whose alerts it routes (the `environment` label) */
  readonly environment: string;
  /** the receivers */
  readonly receivers: TeamReceivers;
  /** the name of the AlertmanagerConfig @default 'alert-routing' */
  readonly name?: string;
}

/**
 * The routing of one team's alerts in one environment, by severity: pages to one receiver,
 * tickets to another. Rendered as an `AlertmanagerConfig` (prometheus-operator v1alpha1, the only
 * version kube-prometheus-stack 88.5.3's CRD serves) in the namespace of its chart, whose alerts
 * alone it receives (the operator adds `namespace="<its namespace>"` to its top route), or handed
 * to the community chart's values as plain routes ({@link plainRoute}).
 */
export class AlertRouting extends Construct {
  /** the team */
  public readonly team: string;
  public readonly teamLabel: string;
  public readonly environment: string;
  public readonly receivers: TeamReceivers;
  /** the AlertmanagerConfig, when one is made ({@link render}) */
  public resource?: ApiObject;
  public readonly name: string;

  constructor(scope: Construct, id: string, props: AlertRoutingProps) {
    super(scope, id);
    this.team = props.team;
    this.teamLabel = props.teamLabel ?? 'team';
    validateName('AlertRouting', 'team', props.team);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(this.teamLabel)) throw new Error(`AlertRouting: teamLabel '${this.teamLabel}' is not a Prometheus label name`);
    this.environment = props.environment;
    this.receivers = props.receivers;
    if (props.receivers.page.name === props.receivers.ticket.name && props.receivers.page !== props.receivers.ticket) {
      throw new Error(`AlertRouting: the page and ticket receivers are both named '${props.receivers.page.name}'; give them their own names, or pass the same receiver twice`);
    }
    this.name = props.name ?? 'alert-routing';
  }

  /** The matchers of the team's alerts in this environment (the top route's). */
  public get matchers(): LabelMatcher[] {
    return [{ name: this.teamLabel, value: this.team, matchType: '=' }, { name: SLO_LABELS.environment, value: this.environment, matchType: '=' }];
  }

  /** The route, as an AlertmanagerConfig writes it. */
  public route(): OperatorRoute {
    const bySeverity = (severity: AlertSeverity, receiver: AlertReceiver, repeat: Duration): OperatorRoute => ({
      receiver: receiver.name,
      matchers: [{ name: SLO_LABELS.severity, value: severity, matchType: '=' }],
      repeatInterval: `${repeat.toHours()}h`,
    });
    return {
      receiver: this.receivers.ticket.name,
      groupBy: ['alertname', SLO_LABELS.service, SLO_LABELS.slo],
      groupWait: '30s',
      groupInterval: '5m',
      repeatInterval: '12h',
      matchers: this.matchers,
      routes: [
        bySeverity(AlertSeverity.PAGE, this.receivers.page, Duration.hours(1)),
        bySeverity(AlertSeverity.TICKET, this.receivers.ticket, Duration.hours(12)),
      ],
    };
  }

  /** The distinct receivers. */
  public receiverList(): AlertReceiver[] {
    return [...new Set([this.receivers.page, this.receivers.ticket])];
  }

  /** Makes the AlertmanagerConfig in this construct's namespace; returns it. */
  public render(): ApiObject {
    this.resource ??= new ApiObject(this, 'Resource', {
      apiVersion: `${PROMETHEUS_OPERATOR_GROUP}/v1alpha1`,
      kind: 'AlertmanagerConfig',
      metadata: { name: this.name },
      spec: { route: this.route(), receivers: this.receiverList().map((r) => r.toOperator()) },
    });
    return this.resource;
  }

  /** The same routes as a plain Alertmanager route (for a configuration without the operator), receivers renamed by `rename`. */
  public plainRoute(rename?: (receiver: string) => string): RouteNode {
    return plainRoute(this.route(), rename);
  }
}
