import { defineRules } from './define';
import { asObj } from '../model/model';
import { Severity } from './types';

/**
 * `runAsNonRoot` makes the kubelet check the user a container starts as: with no numeric
 * `runAsUser` it reads the image's USER, and refuses to start the container when that is
 * root or a name it cannot verify (CreateContainerConfigError).
 */
export const SECURITY_RULES = defineRules({
  'security/run-as-non-root-needs-uid': 'runAsNonRoot on an image that runs as root or as a non-numeric user comes with a numeric non-zero runAsUser',
}, (model, report) => {
  for (const pod of model.pods) {
    const podContext = asObj(pod.spec.securityContext);
    for (const container of pod.containers) {
      const context = asObj(container.raw.securityContext);
      const nonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
      if (nonRoot !== true) continue;
      const uid = context.runAsUser ?? podContext.runAsUser;
      const where = `container '${container.name}' (${container.image})`;
      if (uid === 0) {
        report('security/run-as-non-root-needs-uid', Severity.ERROR, pod.ref, `${where} sets runAsNonRoot with runAsUser 0; the kubelet refuses to start it`,
          'set runAsUser to a non-zero uid');
        continue;
      }
      if (typeof uid === 'number') continue;
      const facts = model.imageFacts(container.image);
      if (!facts?.user || /^[1-9]\d*$/.test(facts.user!.name)) continue;
      const refusal = facts.user!.uid === 0 ? 'image will run as root' : `image has non-numeric user (${facts.user!.name}), cannot verify user is non-root`;
      report('security/run-as-non-root-needs-uid', Severity.ERROR, pod.ref,
        `${where} sets runAsNonRoot without runAsUser, and the image runs as ${facts.user!.name} (${facts.user!.why}); the kubelet refuses to start it ('${refusal}')`,
        `set securityContext.runAsUser to a numeric non-zero uid (pod or container level)${facts.user!.uid !== 0 ? `, e.g. ${facts.user!.uid}, the uid of ${facts.user!.name}` : ''}`);
    }
  }
});
