import { defineRules } from './define';
import { asArr, asNum, asObj, asStr, asStrMap, DeliveryModel, Obj, ObjectRef, objectPath } from '../model/model';
import { namespaceEnforcement } from '../model/namespaces';
import { enforces, POD_SECURITY_VERSION, PodSecurityLevel } from '../platform/pod-security';
import { Severity } from './types';

/*
 * The Kubernetes Pod Security Standards as rules, one per control, named as the Pod Security
 * Standards page names them (kubernetes/website content/en/docs/concepts/security/
 * pod-security-standards.md, the v1.34 docs: read in the fork dancer1325/kubernetes-website
 * @ f915fce8, upstream being too large to fetch here) and judged as the checks of policy version
 * v1.33 judge them (kubernetes/pod-security-admission policy/check_*.go @ v0.33.0, what Kubernetes
 * v1.33's admission runs). The page's "Host Probes / Lifecycle Hooks" control is v1.34+ and not
 * implemented here: the generated namespaces pin enforcement to v1.33.
 *
 * Each problem is reported once, under the strictest control that forbids it at the lower level: a
 * hostPath volume under HostPath Volumes (baseline), not again under Volume Types (restricted); an
 * `Unconfined` seccomp profile under Seccomp (baseline); an added capability beyond the baseline
 * set under Capabilities (baseline).
 */

/** A container of a pod spec, of any of the three lists Pod Security Admission visits. */
interface PodContainer {
  readonly name: string;
  /** `container 'x'`, `init container 'x'`, `ephemeral container 'x'` */
  readonly label: string;
  readonly raw: Obj;
  readonly securityContext: Obj;
}

/** A pod spec, from a workload's template or a Pod. */
interface PodView {
  readonly spec: Obj;
  readonly securityContext: Obj;
  readonly annotations: Readonly<Record<string, string>>;
  readonly containers: readonly PodContainer[];
  /** `spec.os.name: windows`: the Linux-only restricted controls do not apply (policy v1.25+) */
  readonly windows: boolean;
}

/** A control of the Pod Security Standards. */
interface Control {
  /** its name on the Pod Security Standards page */
  readonly name: string;
  readonly level: PodSecurityLevel.BASELINE | PodSecurityLevel.RESTRICTED;
  /** what the rule makes sure of, one line */
  readonly description: string;
  /** the problems of one pod spec, each naming where and the value */
  readonly check: (pod: PodView) => string[];
  readonly fix: string;
}

const BASELINE = PodSecurityLevel.BASELINE;
const RESTRICTED = PodSecurityLevel.RESTRICTED;

/** The capabilities baseline lets a container add (check_capabilities_baseline.go @ v0.33.0). */
const BASELINE_CAPABILITIES = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];
/** The one capability restricted lets a container add back (check_capabilities_restricted.go @ v0.33.0). */
const RESTRICTED_ADDABLE = 'NET_BIND_SERVICE';
/** The seccomp and AppArmor profile types both levels accept. */
const CONFINED_PROFILES = ['RuntimeDefault', 'Localhost'];
/** The SELinux types baseline accepts at v1.31+ (check_seLinuxOptions.go @ v0.33.0). */
const SELINUX_TYPES = ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];
/** The sysctls baseline accepts at v1.32+ (check_sysctls.go @ v0.33.0). */
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem',
];
/** The volume sources restricted accepts (check_restrictedVolumes.go @ v0.33.0, which accepts `image` too). */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret'];
/** The annotation prefix of the deprecated per-container AppArmor profiles. */
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

/** `the pod` or the container, each with the field it sets. */
function setters(pod: PodView, read: (securityContext: Obj) => string | undefined): string[] {
  const podValue = read(pod.securityContext);
  return [
    ...(podValue !== undefined ? [`the pod ${podValue}`] : []),
    ...pod.containers.flatMap((c) => {
      const v = read(c.securityContext);
      return v !== undefined ? [`${c.label} ${v}`] : [];
    }),
  ];
}

const profileType = (field: string) => (sc: Obj): string | undefined => {
  if (sc[field] === undefined) return undefined;
  const type = asStr(asObj(sc[field]).type);
  return CONFINED_PROFILES.includes(type ?? '') ? undefined : `sets securityContext.${field}.type to ${type === undefined ? 'nothing' : `'${type}'`}`;
};

/** The controls, in the order of the page: baseline, then restricted. */
const CONTROLS: Readonly<Record<string, Control>> = {
  'pod-security/host-process': {
    name: 'HostProcess', level: BASELINE,
    description: 'no pod or container runs as a Windows HostProcess container (privileged access to the node)',
    check: (pod) => setters(pod, (sc) => (asObj(sc.windowsOptions).hostProcess === true ? 'sets securityContext.windowsOptions.hostProcess: true' : undefined)),
    fix: 'remove securityContext.windowsOptions.hostProcess (or set it false)',
  },
  'pod-security/host-namespaces': {
    name: 'Host Namespaces', level: BASELINE,
    description: "a pod shares none of the node's network, process or IPC namespaces",
    check: (pod) => (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((f) => pod.spec[f] === true).map((f) => `the pod sets spec.${f}: true`),
    fix: 'remove hostNetwork, hostPID and hostIPC (or set them false); reach the node through a Service or a hostPort-free DaemonSet instead',
  },
  'pod-security/privileged': {
    name: 'Privileged Containers', level: BASELINE,
    description: 'no container runs privileged',
    check: (pod) => pod.containers.filter((c) => c.securityContext.privileged === true).map((c) => `${c.label} sets securityContext.privileged: true`),
    fix: 'remove securityContext.privileged (or set it false), and add only the capability the container needs',
  },
  'pod-security/capabilities-baseline': {
    name: 'Capabilities', level: BASELINE,
    description: `a container adds no capability beyond the baseline set (${BASELINE_CAPABILITIES.join(', ')})`,
    check: (pod) => pod.containers.flatMap((c) => {
      const added = asArr(asObj(c.securityContext.capabilities).add).map(String).filter((a) => !BASELINE_CAPABILITIES.includes(a));
      return added.length > 0 ? [`${c.label} adds ${added.join(', ')}`] : [];
    }),
    fix: 'remove the capability from securityContext.capabilities.add; the restricted level allows only NET_BIND_SERVICE',
  },
  'pod-security/host-path-volumes': {
    name: 'HostPath Volumes', level: BASELINE,
    description: 'no volume mounts a path of the node (hostPath)',
    check: (pod) => asArr(pod.spec.volumes).map(asObj).filter((v) => v.hostPath !== undefined)
      .map((v) => `volume '${asStr(v.name) ?? ''}' is hostPath ${asStr(asObj(v.hostPath).path) ?? ''}`.trim()),
    fix: 'use a configMap, secret, emptyDir, projected or persistentVolumeClaim volume instead of hostPath',
  },
  'pod-security/host-ports': {
    name: 'Host Ports', level: BASELINE,
    description: "no container port is bound on the node's address (hostPort)",
    check: (pod) => pod.containers.flatMap((c) => asArr(c.raw.ports).map(asObj).filter((p) => (asNum(p.hostPort) ?? 0) !== 0)
      .map((p) => `${c.label} binds hostPort ${String(p.hostPort)}`)),
    fix: 'remove hostPort and reach the pod through a Service (a node-local agent: a Service with internalTrafficPolicy: Local)',
  },
  'pod-security/apparmor': {
    name: 'AppArmor', level: BASELINE,
    description: 'no pod or container overrides the AppArmor profile with anything but RuntimeDefault or a Localhost profile',
    check: (pod) => [
      ...setters(pod, profileType('appArmorProfile')),
      ...Object.entries(pod.annotations).filter(([k, v]) => k.startsWith(APPARMOR_ANNOTATION) && !(v === '' || v === 'runtime/default' || v.startsWith('localhost/')))
        .map(([k, v]) => `the pod is annotated ${k}: ${v}`),
    ],
    fix: "set appArmorProfile.type to RuntimeDefault or Localhost (or leave it out), and remove annotations that choose 'unconfined'",
  },
  'pod-security/selinux': {
    name: 'SELinux', level: BASELINE,
    description: `SELinux options set no user or role, and a type only of ${SELINUX_TYPES.filter(Boolean).join(', ')}`,
    check: (pod) => setters(pod, (sc) => {
      if (sc.seLinuxOptions === undefined) return undefined;
      const o = asObj(sc.seLinuxOptions);
      const bad = [
        ...(SELINUX_TYPES.includes(asStr(o.type) ?? '') ? [] : [`type '${String(o.type)}'`]),
        ...(['user', 'role'] as const).filter((f) => (asStr(o[f]) ?? '') !== '').map((f) => `${f} '${String(o[f])}'`),
      ];
      return bad.length > 0 ? `sets seLinuxOptions ${bad.join(', ')}` : undefined;
    }),
    fix: "remove seLinuxOptions.user and .role, and use type container_t (or leave seLinuxOptions out)",
  },
  'pod-security/proc-mount': {
    name: '/proc Mount Type', level: BASELINE,
    description: 'no container unmasks /proc (procMount other than Default)',
    check: (pod) => pod.containers.filter((c) => c.securityContext.procMount !== undefined && c.securityContext.procMount !== 'Default')
      .map((c) => `${c.label} sets securityContext.procMount: ${String(c.securityContext.procMount)}`),
    fix: 'remove securityContext.procMount (or set it Default)',
  },
  'pod-security/seccomp-baseline': {
    name: 'Seccomp', level: BASELINE,
    description: 'no pod or container turns seccomp off (a profile type other than RuntimeDefault or Localhost)',
    check: (pod) => setters(pod, profileType('seccompProfile')),
    fix: 'set seccompProfile.type to RuntimeDefault (or a Localhost profile)',
  },
  'pod-security/sysctls': {
    name: 'Sysctls', level: BASELINE,
    description: 'a pod sets only the sysctls that are namespaced and isolated from other pods',
    check: (pod) => asArr(pod.securityContext.sysctls).map(asObj).map((s) => asStr(s.name) ?? '').filter((n) => !SAFE_SYSCTLS.includes(n))
      .map((n) => `the pod sets sysctl ${n}`),
    fix: `set only ${SAFE_SYSCTLS.join(', ')}`,
  },
  'pod-security/volume-types': {
    name: 'Volume Types', level: RESTRICTED,
    description: `every volume is one of ${RESTRICTED_VOLUMES.join(', ')}`,
    check: (pod) => asArr(pod.spec.volumes).map(asObj).filter((v) => v.hostPath === undefined && !RESTRICTED_VOLUMES.some((t) => v[t] !== undefined && v[t] !== null))
      .map((v) => `volume '${asStr(v.name) ?? ''}' is ${Object.keys(v).filter((k) => k !== 'name').join(', ') || 'of no type'}`),
    fix: `use a ${RESTRICTED_VOLUMES.join(', ')} volume (a PersistentVolume behind a persistentVolumeClaim for other storage)`,
  },
  'pod-security/privilege-escalation': {
    name: 'Privilege Escalation (v1.8+)', level: RESTRICTED,
    description: 'every container sets allowPrivilegeEscalation: false',
    check: (pod) => (pod.windows ? [] : pod.containers.filter((c) => c.securityContext.allowPrivilegeEscalation !== false)
      .map((c) => `${c.label} ${c.securityContext.allowPrivilegeEscalation === true ? 'sets allowPrivilegeEscalation: true' : 'does not set allowPrivilegeEscalation: false'}`)),
    fix: 'set securityContext.allowPrivilegeEscalation: false on every container',
  },
  'pod-security/run-as-non-root': {
    name: 'Running as Non-root', level: RESTRICTED,
    description: 'the pod sets runAsNonRoot: true and no container sets it false, or every container sets it true',
    check: (pod) => {
      const podValue = pod.securityContext.runAsNonRoot;
      return [
        ...(podValue === false ? ['the pod sets runAsNonRoot: false'] : []),
        ...pod.containers.flatMap((c) => {
          const v = c.securityContext.runAsNonRoot;
          if (v === false) return [`${c.label} sets runAsNonRoot: false`];
          return v === undefined && podValue !== true ? [`${c.label} does not set runAsNonRoot: true, nor does the pod`] : [];
        }),
      ];
    },
    fix: 'set securityContext.runAsNonRoot: true on the pod (with a numeric non-zero runAsUser the kubelet can check)',
  },
  'pod-security/run-as-user': {
    name: 'Running as Non-root user (v1.23+)', level: RESTRICTED,
    description: 'no pod or container sets runAsUser 0',
    check: (pod) => setters(pod, (sc) => (sc.runAsUser === 0 ? 'sets runAsUser: 0' : undefined)),
    fix: 'set runAsUser to a non-zero uid (the image\'s user, or any uid for an image FROM scratch)',
  },
  'pod-security/seccomp-restricted': {
    name: 'Seccomp (v1.19+)', level: RESTRICTED,
    description: 'every container runs with a RuntimeDefault or Localhost seccomp profile, set on it or on the pod',
    check: (pod) => {
      if (pod.windows || pod.securityContext.seccompProfile !== undefined) return [];
      return pod.containers.filter((c) => c.securityContext.seccompProfile === undefined).map((c) => `${c.label} has no seccompProfile, nor does the pod`);
    },
    fix: 'set securityContext.seccompProfile: {type: RuntimeDefault} on the pod',
  },
  'pod-security/capabilities-restricted': {
    name: 'Capabilities (v1.22+)', level: RESTRICTED,
    description: 'every container drops ALL capabilities and adds back at most NET_BIND_SERVICE',
    check: (pod) => (pod.windows ? [] : pod.containers.flatMap((c) => {
      const caps = asObj(c.securityContext.capabilities);
      const added = asArr(caps.add).map(String).filter((a) => a !== RESTRICTED_ADDABLE && BASELINE_CAPABILITIES.includes(a));
      return [
        ...(asArr(caps.drop).includes('ALL') ? [] : [`${c.label} does not drop ALL capabilities`]),
        ...(added.length > 0 ? [`${c.label} adds ${added.join(', ')}`] : []),
      ];
    })),
    fix: "set securityContext.capabilities: {drop: ['ALL']} on every container (add back only NET_BIND_SERVICE)",
  },
};

type ControlId = keyof typeof CONTROLS & string;

/** The pod specs of the manifests: every workload's template and every Pod; a Rollout that refers to a Deployment's (workloadRef) has none of its own. */
function podViews(model: DeliveryModel): { ref: ObjectRef; namespace: string; pod: PodView }[] {
  const templates = [
    ...model.pods.filter((p) => !(p.owner.object.kind === 'Rollout' && asObj(p.owner.object.spec).template === undefined))
      .map((p) => ({ ref: p.ref, namespace: p.namespace, spec: p.spec, annotations: p.annotations })),
    // the other kinds whose template Pod Security Admission warns about
    ...model.ofKind('ReplicationController', 'PodTemplate').map((m) => {
      const template = asObj(m.object.kind === 'PodTemplate' ? m.object.template : asObj(m.object.spec).template);
      return { ref: model.refOf(m), namespace: model.namespaceOf(m), spec: asObj(template.spec), annotations: asStrMap(asObj(template.metadata).annotations) };
    }),
  ];
  return templates.map(({ ref, namespace, spec, annotations }) => {
    const lists = [['initContainers', 'init container'], ['containers', 'container'], ['ephemeralContainers', 'ephemeral container']] as const;
    const containers = lists.flatMap(([field, kind]) => asArr(spec[field]).map(asObj).map((raw): PodContainer => {
      const name = asStr(raw.name) ?? '';
      return { name, label: `${kind} '${name}'`, raw, securityContext: asObj(raw.securityContext) };
    }));
    return { ref, namespace, pod: { spec, securityContext: asObj(spec.securityContext), annotations, containers, windows: asObj(spec.os).name === 'windows' } };
  });
}

/**
 * The Pod Security Standards, one rule per control. Severity: a baseline control's violation is an
 * error and a restricted one's a warning, unless the manifests say which level the pod's namespace
 * enforces (a Namespace label, or Argo CD's managedNamespaceMetadata): then whatever the namespace
 * enforces is an error (the API server refuses the pod; a Rollout's or Deployment's ReplicaSet
 * fails to create it) and whatever it admits a warning.
 */
export const POD_SECURITY_RULES = defineRules(
  Object.fromEntries(Object.entries(CONTROLS).map(([id, c]) => [id, `${c.level} "${c.name}": ${c.description}`])) as Record<ControlId, string>,
  (model, report) => {
    const enforcement = namespaceEnforcement(model);
    for (const { ref, namespace, pod } of podViews(model)) {
      const enforced = enforcement.get(namespace);
      for (const [id, control] of Object.entries(CONTROLS) as [ControlId, Control][]) {
        const problems = control.check(pod);
        if (problems.length === 0) continue;
        const severity = enforced ? (enforces(enforced.level, control.level) ? Severity.ERROR : Severity.WARNING) : (control.level === BASELINE ? Severity.ERROR : Severity.WARNING);
        const consequence = !enforced ? ''
          : enforces(enforced.level, control.level) ? `; namespace ${namespace} enforces ${enforced.level} (${enforced.from}), so the API server refuses these pods`
            : `; namespace ${namespace} enforces only ${enforced.level} (${enforced.from}), which admits it`;
        // the controls one pod template misses at one severity have one cause, a security context not
        // written for the level: validate prints the first and folds the others under it
        const cause = `pod-security:${objectPath(ref)}:${severity}`;
        report(id, severity, ref, `${problems.join('; ')}; the Pod Security Standards ${control.level} control "${control.name}" (policy ${POD_SECURITY_VERSION}) forbids it${consequence}`, control.fix,
          { causes: [cause], causedBy: [cause] });
      }
    }
  },
);

/** The name and level of each control, by rule id (for docs and tests). */
export const POD_SECURITY_CONTROLS: Readonly<Record<string, { readonly name: string; readonly level: PodSecurityLevel }>> = Object.fromEntries(
  Object.entries(CONTROLS).map(([id, c]) => [id, { name: c.name, level: c.level }]),
);
