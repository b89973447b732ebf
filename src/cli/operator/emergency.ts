/** `medledger emergency`: emergency staff break the glass on a patient for a short, audited window. */
import type { Command } from 'commander';
import { createdIdOf, eventAttribute, submitAndWait } from '../../client/index.ts';
import { isoTime, type Out, printFields, printJson } from '../../client/output.ts';
import { parseDuration } from '../../client/parse.ts';
import { MedledgerError } from '../../errors.ts';
import { type CommonOptions, clientFor, operatorOptions, signerKeys, withExample } from './common.ts';

export function addEmergencyCommand(program: Command, out: Out): void {
  withExample(
    operatorOptions(
      program
        .command('emergency')
        .description(
          "break glass: read a patient's records without consent for a short window; the opening and " +
            'every read in it are flagged in the audit trail the patient sees',
        )
        .requiredOption('--patient <id>', "the patient's id")
        .requiredOption('--reason <text>', 'why (mandatory; the patient reads it)')
        .option(
          '--duration <duration>',
          'how long the window stays open (at most the network maximum)',
          '1h',
        ),
      'emergency staff member',
    ),
    'medledger emergency --patient 3f1c… --reason "unconscious on arrival" --duration 2h --keystore er-nurse.key',
  ).action(async (options: CommonOptions & { patient: string; reason: string; duration: string }) => {
    const duration_ms = parseDuration(options.duration, '--duration');
    const staff = await signerKeys(options, 'emergency staff member');
    const committed = await submitAndWait(clientFor(options), staff, 'emergency.open', {
      patient: options.patient,
      reason: options.reason,
      duration_ms,
    }).catch((error: unknown) => {
      // The refusal names the limit in the largest fitting unit; say which value of the user's it was.
      if (error instanceof MedledgerError && error.code === 'BAD_DURATION')
        throw new MedledgerError(error.code, `--duration ${options.duration}: ${error.message}`);
      throw error;
    });
    const expires = eventAttribute(committed.receipt, 'emergency.opened', 'expires_ms');
    const result = {
      window: createdIdOf('window', committed),
      patient: options.patient,
      expires: expires === undefined ? null : isoTime(Number(expires)),
      txHash: committed.txHash,
      height: committed.height,
    };
    if (options.json) return printJson(out, result);
    printFields(out, {
      'emergency window': result.window,
      patient: result.patient,
      'open until': result.expires,
      transaction: `${result.txHash} at height ${result.height}`,
    });
  });
}
