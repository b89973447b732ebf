/**
 * The operator commands: they sign with a local keystore and talk to a node's HTTP API. One call
 * registers them all on the program.
 */
import type { Command } from 'commander';
import type { Out } from '../../client/output.ts';
import { addAuditCommand } from './audit.ts';
import { addConsentCommands } from './consent.ts';
import { addEmergencyCommand } from './emergency.ts';
import { addFhirExportCommands } from './fhir-export.ts';
import { addInspectCommands } from './inspect.ts';
import { addKeysCommands } from './keys.ts';
import { addRecordCommands } from './records.ts';
import { addRegistryCommands } from './registry.ts';
import { addSignRequestCommand } from './sign-request.ts';

export function addOperatorCommands(program: Command, out: Out): void {
  addKeysCommands(program, out);
  addRegistryCommands(program, out);
  addRecordCommands(program, out);
  addConsentCommands(program, out);
  addEmergencyCommand(program, out);
  addFhirExportCommands(program, addAuditCommand(program, out), out);
  addInspectCommands(program, out);
  addSignRequestCommand(program, out);
}
