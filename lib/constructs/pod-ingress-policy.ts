import { Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { DEFAULT_POLICY_PROTOCOL, NAMESPACE_NAME_LABEL } from '../platform/network-policy';
import { validateName, validatePort } from '../util';

/** A container port a policy admits connections to. */
export interface AdmittedPort {
  /** the container port's name, for messages */
  readonly name: string;
  /** its number */
  readonly number: number;
}

/** Who may open connections to the admitted ports. */
export class IngressSource {
  /**
   * Anyone: pods of every namespace, the nodes, load balancers and clients outside the cluster
   * (the rule names no `from`).
   */
  public static anywhere(): IngressSource {
    return new IngressSource(undefined);
  }

  /**
   * The pods of these namespaces, selected by the name label the control plane sets on every
   * namespace; more can be added later ({@link PodIngressPolicy.admit} with the same ports).
   */
  public static namespaces(...names: string[]): IngressSource {
    names.forEach((n) => validateName('IngressSource', 'namespaces', n));
    return new IngressSource(names);
  }

  private constructor(
    /** the namespaces, or undefined for anyone */
    public readonly namespaceNames: readonly string[] | undefined,
  ) {}
}

/** Properties of a {@link PodIngressPolicy}. */
export interface PodIngressPolicyProps {
  /** the name of the NetworkPolicy */
  readonly name: string;
  /** the labels of the pods it selects (in its own namespace) */
  readonly selector: Readonly<Record<string, string>>;
}

/** One rule: ports, and the namespaces that may reach them (undefined: anyone). */
interface Admission {
  readonly ports: readonly AdmittedPort[];
  readonly namespaces: Set<string> | undefined;
}

const C = 'PodIngressPolicy';

/**
 * A NetworkPolicy that isolates a workload's pods for ingress and admits exactly the connections
 * given with {@link admit}: with none, nothing may connect to the pods. Egress is left alone.
 *
 * Connections from the pod's own node are always allowed (kubernetes/api networking/v1 types.go
 * @ v0.33.0, NetworkPolicySpec.ingress), so the kubelet's probes need no rule. Ports are numbers:
 * the reviewer of a diff sees which port opens. The rules render at synth, so namespaces added
 * after construction reach the output.
 */
export class PodIngressPolicy extends Construct {
  /** the NetworkPolicy */
  public readonly resource: kplus.k8s.KubeNetworkPolicy;
  private readonly admissions: Admission[] = [];

  constructor(scope: Construct, id: string, props: PodIngressPolicyProps) {
    super(scope, id);
    validateName(C, 'name', props.name);
    if (Object.keys(props.selector).length === 0) {
      throw new Error(`${C} '${props.name}': selector is empty, which selects every pod of the namespace; give the labels of the workload's pods`);
    }
    this.resource = new kplus.k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: props.name },
      spec: {
        podSelector: { matchLabels: { ...props.selector } },
        policyTypes: ['Ingress'],
        ingress: Lazy.any({ produce: () => this.renderRules() }) as unknown as kplus.k8s.NetworkPolicyIngressRule[],
      },
    });
  }

  /**
   * Admits connections to `ports` from `from`. Admitting namespaces to ports that already admit
   * namespaces adds them to that rule. Returns the ports admitted.
   */
  public admit(ports: readonly AdmittedPort[], from: IngressSource): readonly AdmittedPort[] {
    if (ports.length === 0) throw new Error(`${C}: admit needs at least one port; a rule without ports would admit every port`);
    ports.forEach((p) => validatePort(C, `port '${p.name}'`, p.number));
    const key = portKey(ports);
    const names = from.namespaceNames;
    const same = this.admissions.find((a) => portKey(a.ports) === key && (a.namespaces === undefined) === (names === undefined));
    if (same) {
      names?.forEach((n) => same.namespaces!.add(n));
    } else {
      this.admissions.push({ ports, namespaces: names && new Set(names) });
    }
    return ports;
  }

  private renderRules(): kplus.k8s.NetworkPolicyIngressRule[] | undefined {
    const rules = this.admissions.filter((a) => a.namespaces === undefined || a.namespaces.size > 0).map((a): kplus.k8s.NetworkPolicyIngressRule => ({
      ports: a.ports.map((p) => ({ port: kplus.k8s.IntOrString.fromNumber(p.number), protocol: DEFAULT_POLICY_PROTOCOL })),
      ...(a.namespaces ? {
        from: [{ namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: [...a.namespaces].sort() }] } }],
      } : {}),
    }));
    // No rule: the pods admit nothing (policyTypes Ingress alone isolates them).
    return rules.length > 0 ? rules : undefined;
  }
}

function portKey(ports: readonly AdmittedPort[]): string {
  return ports.map((p) => p.number).sort((a, b) => a - b).join(',');
}
