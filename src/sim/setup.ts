/**
 * A simulated network's identities and genesis, derived from the seed alone: validator and client
 * Ed25519 keys (secret key = SHA-256 of a domain tag, the seed, a role and an index), the genesis
 * document and its block. Nothing here reads a clock or a random source.
 */
import type { ConsensusParams, ReplicaConfig } from '../consensus/types.ts';
import { genesisState } from '../contracts/index.ts';
import {
  encryptionPublicKeyFrom,
  type SigningKeyPair,
  sha256,
  signingPublicKeyFrom,
} from '../crypto/index.ts';
import { type Block, blockHash, DEFAULT_PARAMS, type Genesis, genesisBlock } from '../ledger/index.ts';

export const SIM_CHAIN_ID = 'medledger-sim';
/** The virtual clock's origin: virtual time 0 ms is this many ms since the Unix epoch. */
export const SIM_GENESIS_TIME = Date.UTC(2026, 0, 1);

export interface SimIdentities {
  chainId: string;
  genesis: Genesis;
  genesisBlock: Block;
  /** What every replica is configured with as its starting checkpoint. */
  genesisCheckpoint: ReplicaConfig['genesis'];
  validators: SigningKeyPair[];
  validatorKeys: Uint8Array[];
  clients: SigningKeyPair[];
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** The Ed25519 key pair of `role` number `index` in the run of `seed`. */
export function deriveKeyPair(seed: number, role: string, index: number): SigningKeyPair {
  const secretKey = sha256(
    new TextEncoder().encode(`medledger/sim/key/v1\0${role}\0`),
    u32(seed),
    u32(index),
  );
  return { secretKey, publicKey: signingPublicKeyFrom(secretKey) };
}

/** Validator `index`'s X25519 public key in the run of `seed` (its genesis `encryptionKey`). */
function deriveEncryptionKey(seed: number, index: number): Uint8Array {
  const secretKey = sha256(
    new TextEncoder().encode('medledger/sim/x25519/v1\0validator\0'),
    u32(seed),
    u32(index),
  );
  return encryptionPublicKeyFrom(secretKey);
}

/**
 * The run's keys and genesis. The clients are the network's admins, so that the rule engine accepts
 * their transactions (organisation registrations); `params` are the consensus parameters every
 * validator runs with, whose network-wide ones (checkpoint interval, block size) the genesis carries.
 */
export function makeIdentities(
  seed: number,
  nodes: number,
  clientCount: number,
  params: Pick<ConsensusParams, 'checkpointInterval' | 'maxBlockTxs'>,
): SimIdentities {
  const validators = Array.from({ length: nodes }, (_, i) => deriveKeyPair(seed, 'validator', i));
  const clients = Array.from({ length: clientCount }, (_, i) => deriveKeyPair(seed, 'client', i));
  const genesis: Genesis = {
    chainId: SIM_CHAIN_ID,
    genesisTime: SIM_GENESIS_TIME,
    validators: validators.map((v, i) => ({
      name: `validator-${i}`,
      publicKey: v.publicKey,
      encryptionKey: deriveEncryptionKey(seed, i),
      addresses: [],
    })),
    networkAdmins: clients.map((c, i) => ({
      name: `client-${i}`,
      publicKey: c.publicKey,
      encryptionKey: sha256(c.publicKey),
    })),
    organisations: [],
    params: {
      ...DEFAULT_PARAMS,
      checkpointInterval: params.checkpointInterval,
      maxBlockTxs: params.maxBlockTxs,
    },
  };
  // The rule engine's initial state (the admins' identities), as every validator's chain store starts.
  const block = genesisBlock(genesis, genesisState(genesis));
  return {
    chainId: SIM_CHAIN_ID,
    genesis,
    genesisBlock: block,
    genesisCheckpoint: {
      hash: blockHash(block.header),
      stateRoot: block.header.stateRoot,
      timestamp: block.header.timestamp,
    },
    validators,
    validatorKeys: validators.map((v) => v.publicKey),
    clients,
  };
}
