// Rotation state bookkeeping shared by every caller of the core.
import type { RoutingState, RoutingStateChanges } from './types.js';

export function emptyChanges(): RoutingStateChanges {
  return { pools: {}, reps: {} };
}

export function hasChanges(changes: RoutingStateChanges): boolean {
  return Object.keys(changes.pools).length > 0 || Object.keys(changes.reps).length > 0;
}

/** A new state with the changed entries replaced; the inputs are left as they were. */
export function applyStateChanges(state: RoutingState, changes: RoutingStateChanges): RoutingState {
  if (!hasChanges(changes)) return state;
  return { pools: { ...state.pools, ...changes.pools }, reps: { ...state.reps, ...changes.reps } };
}
