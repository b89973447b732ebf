/** The deterministic fault-injecting simulator of medledger's consensus core, and its checkers. */

export * from '../prng.ts';
export * from './checkers.ts';
export * from './faults.ts';
export * from './network.ts';
export * from './options.ts';
export * from './parallel.ts';
export * from './progress.ts';
export * from './queue.ts';
export * from './run.ts';
export * from './scenarios.ts';
export * from './schedule.ts';
export * from './simulator.ts';
export * from './summary.ts';
