/**
 * Registry handlers: organisations (by network admins), practitioners (by their organisation's
 * admin), patients (by a registrar, co-signed by the patient), key rotation and deactivation.
 * Identities are pseudonymous: keys, a kind, an organisation and roles; never a name.
 */
import { bytesEqual } from '../../bytes.ts';
import type { TxBody } from '../bodies.ts';
import type { Handler, TxContext } from '../context.ts';
import { verifyKeyRotation, verifyPatientRegistration } from '../cosign.ts';
import { ensure } from '../errors.ts';
import {
  administeredOrganisation,
  checkKeys,
  normaliseRoles,
  requireNetworkAdmin,
  requireOrgAdmin,
  requirePractitioner,
} from '../guards.ts';
import { identityId, ORGANISATION_ID } from '../ids.ts';
import type { Identity, IdentityKind, Role } from '../model.ts';
import * as state from '../state.ts';

/** A new identity for `signingKey`, refused if the key or the id derived from it is taken. */
function newIdentity(
  ctx: TxContext,
  kind: IdentityKind,
  keys: { signingKey: Uint8Array; encryptionKey: Uint8Array },
  organisation: string | null,
  roles: Role[],
): Identity {
  checkKeys(keys.signingKey, keys.encryptionKey);
  ensure(!state.keyInUse(ctx.scope, keys.signingKey), 'KEY_IN_USE');
  const id = identityId(keys.signingKey);
  // A key rotated away from still names its first identity: it can never start a second one.
  ensure(state.identity(ctx.scope, id) === undefined, 'ALREADY_REGISTERED');
  return {
    id,
    kind,
    organisation,
    roles,
    signingKey: keys.signingKey,
    encryptionKey: keys.encryptionKey,
    active: true,
    registered_ms: ctx.now_ms,
    registeredBy: ctx.sender.id,
  };
}

export const registerOrganisation: Handler<TxBody<'org.register'>> = (ctx, body) => {
  requireNetworkAdmin(ctx);
  ensure(ORGANISATION_ID.test(body.id), 'BAD_ID');
  ensure(state.organisation(ctx.scope, body.id) === undefined, 'ORGANISATION_EXISTS', `(${body.id})`);
  const admin = newIdentity(
    ctx,
    'organisation',
    { signingKey: body.adminKey, encryptionKey: body.encryptionKey },
    body.id,
    [],
  );
  state.putOrganisation(ctx.scope, {
    id: body.id,
    kind: body.kind,
    admin: admin.id,
    active: true,
    registered_ms: ctx.now_ms,
  });
  state.putIdentity(ctx.scope, admin);
  ctx.emit('organisation.registered', { organisation: body.id, identity: admin.id, kind: body.kind });
  return undefined;
};

export const setOrganisationActive: Handler<TxBody<'org.set-active'>> = (ctx, body) => {
  requireNetworkAdmin(ctx);
  const organisation = state.organisation(ctx.scope, body.id);
  ensure(organisation, 'UNKNOWN_ORGANISATION', `(${body.id})`);
  state.putOrganisation(ctx.scope, { ...organisation, active: body.active });
  ctx.emit(body.active ? 'organisation.activated' : 'organisation.deactivated', { organisation: body.id });
  return undefined;
};

export const registerPractitioner: Handler<TxBody<'practitioner.register'>> = (ctx, body) => {
  const organisation = requireOrgAdmin(ctx);
  const roles = normaliseRoles(body.roles);
  const practitioner = newIdentity(ctx, 'practitioner', body, organisation, roles);
  state.putIdentity(ctx.scope, practitioner);
  ctx.emit('practitioner.registered', {
    practitioner: practitioner.id,
    organisation,
    roles: roles.join(','),
  });
  return undefined;
};

export const setPractitionerRoles: Handler<TxBody<'practitioner.set-roles'>> = (ctx, body) => {
  const organisation = requireOrgAdmin(ctx);
  const practitioner = state.identity(ctx.scope, body.practitioner);
  ensure(practitioner?.kind === 'practitioner', 'UNKNOWN_PRACTITIONER', `(${body.practitioner})`);
  ensure(practitioner.organisation === organisation, 'WRONG_ORGANISATION');
  const roles = normaliseRoles(body.roles);
  state.putIdentity(ctx.scope, { ...practitioner, roles });
  ctx.emit('practitioner.roles-set', { practitioner: practitioner.id, organisation, roles: roles.join(',') });
  return undefined;
};

export const registerPatient: Handler<TxBody<'patient.register'>> = (ctx, body) => {
  requirePractitioner(ctx, ['registrar'], 'a registrar');
  checkKeys(body.signingKey, body.encryptionKey);
  ensure(
    verifyPatientRegistration(ctx.block.chainId, ctx.sender.id, body, body.coSignature),
    'BAD_COSIGNATURE',
  );
  const patient = newIdentity(ctx, 'patient', body, null, []);
  state.putIdentity(ctx.scope, patient);
  ctx.concerns({ patient: patient.id });
  ctx.emit('patient.registered', { registrar: ctx.sender.id });
  return undefined;
};

export const setIdentityActive: Handler<TxBody<'identity.set-active'>> = (ctx, body) => {
  const target = state.identity(ctx.scope, body.id);
  ensure(target, 'UNKNOWN_IDENTITY', `(${body.id})`);
  if (ctx.sender.kind !== 'network-admin') {
    // Organisation admins manage their own practitioners; everything else is the network admins'.
    const organisation = administeredOrganisation(ctx.sender);
    ensure(
      organisation !== null && target.kind === 'practitioner',
      'WRONG_ROLE',
      "Only a network admin, or the organisation's admin for its practitioners, may do this.",
    );
    ensure(target.organisation === organisation, 'WRONG_ORGANISATION');
  }
  state.putIdentity(ctx.scope, { ...target, active: body.active });
  if (target.kind === 'patient') ctx.concerns({ patient: target.id });
  ctx.emit(body.active ? 'identity.activated' : 'identity.deactivated', { identity: target.id });
  return undefined;
};

export const rotateKeys: Handler<TxBody<'identity.rotate-keys'>> = (ctx, body) => {
  const { sender } = ctx;
  checkKeys(body.signingKey, body.encryptionKey);
  ensure(verifyKeyRotation(ctx.block.chainId, sender.id, body, body.proof), 'BAD_KEY_PROOF');
  const sameKey = bytesEqual(body.signingKey, sender.signingKey);
  if (!sameKey) {
    ensure(!state.keyInUse(ctx.scope, body.signingKey), 'KEY_IN_USE');
    state.dropKey(ctx.scope, sender.signingKey);
  }
  state.putIdentity(ctx.scope, { ...sender, signingKey: body.signingKey, encryptionKey: body.encryptionKey });
  if (sender.kind === 'patient') ctx.concerns({ patient: sender.id });
  ctx.emit('identity.keys-rotated', { identity: sender.id });
  return undefined;
};
