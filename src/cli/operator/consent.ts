/**
 * Consent commands: the patient grants, forbids, revokes, approves and denies; a practitioner
 * requests access; the patient (or a network admin) lists the patient's policies and requests.
 */
import type { Command } from 'commander';
import type { AsJson } from '../../client/api-types.ts';
import { type Committed, createdIdOf, submitAndWait } from '../../client/index.ts';
import { isoTime, type Out, printFields, printJson, printTable } from '../../client/output.ts';
import {
  parseActions,
  parseDuration,
  parseGrantPurpose,
  parsePurpose,
  parseScope,
  parseSubject,
} from '../../client/parse.ts';
import type { Scope, Subject } from '../../contracts/index.ts';
import {
  type CommonOptions,
  callerClient,
  clientFor,
  operatorOptions,
  READERS,
  signerKeys,
  withExample,
} from './common.ts';

interface ScopeOptions {
  records?: string;
  types?: string;
  actions: string;
}

function scopeOptions(command: Command): Command {
  return command
    .option('--records <ids>', 'only these records (comma-separated ids; a grant covers later versions)')
    .option(
      '--types <types>',
      'only records of these types (comma-separated, e.g. Observation,application/pdf)',
    )
    .option('--actions <actions>', 'read, append, or read,append', 'read');
}

export function describeSubject(subject: AsJson<Subject> | Subject): string {
  switch (subject.kind) {
    case 'practitioner':
      return subject.id;
    case 'organisation':
      return `org:${subject.id}`;
    case 'role':
      return `role:${subject.organisation}:${subject.role}`;
  }
}

export function describeScope(scope: AsJson<Scope> | Scope): string {
  switch (scope.kind) {
    case 'all':
      return 'all records';
    case 'types':
      return `types ${scope.types.join(',')}`;
    case 'records':
      return `records ${scope.records.join(',')}`;
  }
}

function printCommitted(out: Out, json: boolean | undefined, fields: Record<string, unknown>, c: Committed) {
  const result = { ...fields, txHash: c.txHash, height: c.height };
  if (json) return printJson(out, result);
  const shown: Record<string, string | number | boolean | null> = {};
  for (const [name, value] of Object.entries(fields)) {
    shown[name] = Array.isArray(value) ? value.join(', ') : (value as string | number | boolean | null);
  }
  printFields(out, { ...shown, transaction: `${c.txHash} at height ${c.height}` });
}

export function addConsentCommands(program: Command, out: Out): void {
  withExample(
    operatorOptions(
      scopeOptions(
        program
          .command('grant')
          .description('permit a practitioner, an organisation or a role within one to act on your records')
          .requiredOption(
            '--to <subject>',
            'a practitioner id, org:ORGANISATION, or role:ORGANISATION:ROLE (e.g. role:st-mary:nurse)',
          ),
      )
        .option(
          '--purpose <purpose>',
          'treatment, emergency, payment, operations, research, public-health or any',
          'any',
        )
        .option('--expires <duration>', 'how long the grant lasts (e.g. 12h, 30d, 2w)', '30d'),
      'patient',
    ),
    'medledger grant --to role:st-mary:doctor --types Observation --expires 90d --keystore patient.key',
  ).action(
    async (options: CommonOptions & ScopeOptions & { to: string; purpose: string; expires: string }) => {
      const subject = parseSubject(options.to);
      const scope = parseScope(options);
      const actions = parseActions(options.actions);
      const purpose = parseGrantPurpose(options.purpose);
      const expires_ms = Date.now() + parseDuration(options.expires, '--expires');
      const patient = await signerKeys(options, 'patient');
      const committed = await submitAndWait(clientFor(options), patient, 'consent.grant', {
        subject,
        scope,
        actions,
        purpose,
        expires_ms,
      });
      const fields = {
        policy: createdIdOf('grant', committed),
        to: describeSubject(subject),
        scope: describeScope(scope),
        actions,
        purpose,
        expires: isoTime(expires_ms),
      };
      printCommitted(out, options.json, fields, committed);
    },
  );

  withExample(
    operatorOptions(
      scopeOptions(
        program
          .command('forbid')
          .description('forbid a grantee some actions on your records; a forbid wins over every grant')
          .requiredOption('--to <subject>', 'a practitioner id, org:ORGANISATION, or role:ORGANISATION:ROLE'),
      ),
      'patient',
    ),
    'medledger forbid --to org:acme-insurance --keystore patient.key',
  ).action(async (options: CommonOptions & ScopeOptions & { to: string }) => {
    const subject = parseSubject(options.to);
    const scope = parseScope(options);
    const actions = parseActions(options.actions);
    const patient = await signerKeys(options, 'patient');
    const committed = await submitAndWait(clientFor(options), patient, 'consent.forbid', {
      subject,
      scope,
      actions,
    });
    const fields = {
      policy: createdIdOf('forbid', committed),
      to: describeSubject(subject),
      scope: describeScope(scope),
      actions,
    };
    printCommitted(out, options.json, fields, committed);
  });

  withExample(
    operatorOptions(
      program
        .command('revoke')
        .description('revoke a grant or lift a forbid; later reads are decided without it')
        .argument('<policy>', 'the grant or forbid id (gr-… or fb-…)'),
      'patient',
    ),
    'medledger revoke gr-81b0… --keystore patient.key',
  ).action(async (policy: string, options: CommonOptions) => {
    const patient = await signerKeys(options, 'patient');
    const committed = await submitAndWait(clientFor(options), patient, 'consent.revoke', { policy });
    printCommitted(out, options.json, { revoked: policy }, committed);
  });

  withExample(
    operatorOptions(
      scopeOptions(
        program
          .command('request')
          .description('ask a patient for access; the patient approves or denies')
          .requiredOption('--patient <id>', "the patient's id")
          .requiredOption(
            '--purpose <purpose>',
            'treatment, emergency, payment, operations, research or public-health',
          )
          .requiredOption('--reason <text>', 'why, in words the patient will read'),
      ),
      'practitioner',
    ),
    'medledger request --patient 3f1c… --purpose treatment --reason "follow-up visit" --keystore dr-adams.key',
  ).action(
    async (options: CommonOptions & ScopeOptions & { patient: string; purpose: string; reason: string }) => {
      const scope = parseScope(options);
      const actions = parseActions(options.actions);
      const purpose = parsePurpose(options.purpose);
      const practitioner = await signerKeys(options, 'practitioner');
      const committed = await submitAndWait(clientFor(options), practitioner, 'access.request', {
        patient: options.patient,
        scope,
        actions,
        purpose,
        reason: options.reason,
      });
      const fields = {
        request: createdIdOf('request', committed),
        patient: options.patient,
        scope: describeScope(scope),
        actions,
        purpose,
      };
      printCommitted(out, options.json, fields, committed);
    },
  );

  withExample(
    operatorOptions(
      program
        .command('approve')
        .description('approve a pending access request: it becomes a grant to the requester')
        .argument('<request>', 'the request id (rq-…)')
        .option('--expires <duration>', 'how long the grant lasts (e.g. 12h, 30d)', '30d'),
      'patient',
    ),
    'medledger approve rq-0c47… --expires 7d --keystore patient.key',
  ).action(async (request: string, options: CommonOptions & { expires: string }) => {
    const expires_ms = Date.now() + parseDuration(options.expires, '--expires');
    const patient = await signerKeys(options, 'patient');
    const committed = await submitAndWait(clientFor(options), patient, 'access.approve', {
      request,
      expires_ms,
    });
    const fields = {
      approved: request,
      policy: createdIdOf('grant', committed),
      expires: isoTime(expires_ms),
    };
    printCommitted(out, options.json, fields, committed);
  });

  withExample(
    operatorOptions(
      program
        .command('deny')
        .description('deny a pending access request')
        .argument('<request>', 'the request id (rq-…)'),
      'patient',
    ),
    'medledger deny rq-0c47… --keystore patient.key',
  ).action(async (request: string, options: CommonOptions) => {
    const patient = await signerKeys(options, 'patient');
    const committed = await submitAndWait(clientFor(options), patient, 'access.deny', { request });
    printCommitted(out, options.json, { denied: request }, committed);
  });

  withExample(
    operatorOptions(
      program
        .command('policies')
        .description("a patient's grants and forbids, expired grants included")
        .requiredOption('--patient <id>', "the patient's id"),
      { reads: READERS.consent },
    ),
    'medledger policies --patient 3f1c… --keystore patient.key',
  ).action(async (options: CommonOptions & { patient: string }) => {
    const client = await callerClient(options, READERS.consent);
    const policies = await client.patientPolicies(options.patient);
    if (options.json) return printJson(out, { policies });
    printTable(
      out,
      ['id', 'effect', 'to', 'scope', 'actions', 'purpose', 'expires'],
      policies.map(({ subject, policy }) => [
        policy.id,
        policy.effect,
        describeSubject(subject),
        describeScope(policy.scope),
        policy.actions.join(','),
        policy.purpose,
        isoTime(policy.expires_ms),
      ]),
      'no grants or forbids',
    );
  });

  withExample(
    operatorOptions(
      program
        .command('requests')
        .description("a patient's access requests, pending and decided")
        .requiredOption('--patient <id>', "the patient's id"),
      { reads: READERS.consent },
    ),
    'medledger requests --patient 3f1c… --keystore patient.key',
  ).action(async (options: CommonOptions & { patient: string }) => {
    const client = await callerClient(options, READERS.consent);
    const requests = await client.patientRequests(options.patient);
    if (options.json) return printJson(out, { requests });
    printTable(
      out,
      ['id', 'status', 'requester', 'scope', 'actions', 'purpose', 'created', 'reason'],
      requests.map((r) => [
        r.id,
        r.status,
        r.requester,
        describeScope(r.scope),
        r.actions.join(','),
        r.purpose,
        isoTime(r.created_ms),
        r.reason,
      ]),
      'no access requests',
    );
  });
}
