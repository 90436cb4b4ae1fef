export * from './target';
export * from './manifest-target';
export * from './scenarios';
export * from './series';
export * from './argo-replay';
export * from './prometheus-engine';
export * from './rehearse';
export * from './report';
