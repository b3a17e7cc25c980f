/**
 * Sluice as a library: what a user's own code is typed against — a refine step loaded by `module:`
 * (`import type { RefineStep } from 'sluice'`) — and the entry points for running a pipeline from code.
 */
export type { RefineOutcome, RefineRecord, RefineStep, RuleFailure } from './refine/step';
export { loadPipeline, type Pipeline } from './run/pipeline';
export { runPipeline, type RunOptions, type RunSummary } from './run/run';
export { SluiceError, isSluiceError, type ErrorCode } from './core/errors';
