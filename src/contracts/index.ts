/**
 * The rule engine ("smart contracts"): deterministic transaction handlers for the registry, records,
 * consent, emergency access, audited reads and erasure, with a default-deny policy evaluator.
 * Pure: no I/O, no clock, no randomness. See engine.ts for execution, policy.ts for decisions.
 */
export {
  decodeBody,
  encodeBody,
  isTxType,
  TX_BODIES,
  TX_TYPES,
  type TxBodies,
  type TxBody,
  type TxType,
} from './bodies.ts';
export { buildTx, createdId } from './build.ts';
export { committedTxProblem } from './committed.ts';
export type { BlockContext } from './context.ts';
export {
  signKeyRotation,
  signPatientRegistration,
  verifyKeyRotation,
  verifyPatientRegistration,
} from './cosign.ts';
export { type BlockResult, executeBlock, genesisState, type StateReader } from './engine.ts';
export { CONTRACT_ERRORS, ContractError, type ContractErrorCode } from './errors.ts';
export { ID_PREFIX, identityId, type ObjectKind, objectId } from './ids.ts';
export { type AuditIndex, parseSubjectKey, stateKey, subjectKey } from './keys.ts';
export * from './model.ts';
export {
  type AccessQuery,
  type Decision,
  decide,
  type PolicySource,
  scopeCovers,
  subjectsOf,
} from './policy.ts';
export * from './queries.ts';
