export { RolloutService } from './service.ts';
export { RolloutEngine, type TransferSlots } from './engine.ts';
export { loadRolloutFile, parseRolloutText } from './load.ts';
export { planRollout, applyPlan, patchesTableLookup, type RolloutPlan } from './plan.ts';
export { applyVerb, VERBS, type Verb } from './transitions.ts';
export { rolloutSpecSchema, type RolloutSpec } from './spec.ts';
export { rank, assignWaves, resolveWaveSizes } from './waves.ts';
export { windowVerdict } from './windows.ts';
