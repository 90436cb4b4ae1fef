import { ARGO_WIRING_RULES } from './argo-wiring';
import { COLLECTOR_RULES } from './collector';
import { COLLECTOR_POD_RULES } from './collector-pod';
import { CONDITION_RULES } from './conditions';
import { GATE_RULES } from './gates';
import { NETWORK_RULES } from './network';
import { OBSERVABILITY_RULES } from './observability';
import { OTLP_RULES } from './otlp';
import { POD_SECURITY_RULES } from './pod-security';
import { ROLLOUT_RULES } from './rollout';
import { SECURITY_RULES } from './security';
import { SERVICE_RULES } from './services';
import { schemaRules } from './schema';
import { SERVICE_FACT_RULES } from './service-facts';
import { Rule } from './types';

/** Every rule: schemas first, then in the order the wiring flows: collector -> apps -> gates -> rollout -> services, then security: pods, then the network. */
export const ALL_RULES: readonly Rule[] = [
  ...schemaRules,
  ...COLLECTOR_RULES,
  ...COLLECTOR_POD_RULES,
  ...OTLP_RULES,
  ...GATE_RULES,
  ...CONDITION_RULES,
  ...ROLLOUT_RULES,
  ...SERVICE_FACT_RULES,
  ...ARGO_WIRING_RULES,
  ...SERVICE_RULES,
  ...SECURITY_RULES,
  ...POD_SECURITY_RULES,
  ...NETWORK_RULES,
  ...OBSERVABILITY_RULES,
];
