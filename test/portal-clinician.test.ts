/**
 * What the portal's clinician view decides without a page: the shape check of a record's content
 * before it is encrypted (src/app/record-shape.ts), a denial's rule in words, a duration as typed.
 */
import { describe, expect, it } from 'vitest';
import { denialOf, denialText, minutesOf } from '../src/app/clinician-words.ts';
import { checkContent, resourceTypeIn } from '../src/app/record-shape.ts';
import { MedledgerError } from '../src/errors.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);
const observation = utf8('{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"}}');

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as MedledgerError).code;
  }
  return undefined;
}

describe('record content checked in the browser', () => {
  it('takes FHIR JSON of the record type, and labels FHIR JSON with its resource type', () => {
    expect(checkContent(observation, 'Observation', 'o.json')).toMatchObject({
      contentType: 'Observation',
      size: observation.length,
      bytes: observation,
    });
    expect(checkContent(observation, 'application/fhir+json', 'o.json').contentType).toBe('Observation');
  });

  it('takes any other file under a MIME type without looking into it', () => {
    const pdf = new Uint8Array([0x25, 0x50, 0x44, 0x46]);
    expect(checkContent(pdf, 'application/pdf', 'a.pdf')).toMatchObject({
      contentType: 'application/pdf',
      size: 4,
    });
  });

  it('refuses what is not FHIR of the type, each with its code', () => {
    expect(codeOf(() => checkContent(observation, 'Condition', 'o.json'))).toBe('FHIR_TYPE_MISMATCH');
    expect(codeOf(() => checkContent(utf8('not json'), 'Observation', 'x'))).toBe('FHIR_NOT_JSON');
    expect(codeOf(() => checkContent(new Uint8Array([0xff, 0xfe]), 'Observation', 'x'))).toBe(
      'FHIR_NOT_JSON',
    );
    expect(codeOf(() => checkContent(utf8('[1]'), 'Observation', 'x'))).toBe('FHIR_TYPE_MISMATCH');
    expect(codeOf(() => checkContent(utf8('{"a":1}'), 'application/fhir+json', 'x'))).toBe(
      'FHIR_TYPE_MISMATCH',
    );
    expect(
      codeOf(() => checkContent(utf8('{"resourceType":"Bundle","type":"collection"}'), 'Bundle', 'x')),
    ).toBe('FHIR_INVALID');
    expect(
      codeOf(() => checkContent(utf8('{"resourceType":"Bundle","type":"document"}'), 'Bundle', 'x')),
    ).toBe(undefined);
    expect(codeOf(() => checkContent(observation, 'not a type!', 'x'))).toBe('BAD_CONTENT_TYPE');
  });

  it('suggests the resource type of a FHIR file', () => {
    expect(resourceTypeIn(observation)).toBe('Observation');
    expect(resourceTypeIn(utf8('%PDF'))).toBeNull();
  });
});

describe('a denial in words', () => {
  it('reads the rule from the receipt', () => {
    const error = new MedledgerError('DENIED', 'Access denied: no rule permits this (rule none).');
    expect(denialOf(error)).toEqual({ rule: 'none', detail: 'no rule permits this' });
    expect(denialText('none')).toMatch(/not granted you access/);
    expect(
      denialOf(
        new MedledgerError('DENIED', 'Access denied: the patient forbids this (fb-1) (rule forbid:fb-1).'),
      ),
    ).toEqual({ rule: 'forbid:fb-1', detail: 'the patient forbids this (fb-1)' });
    expect(denialText('forbid:fb-1')).toMatch(/the patient forbids you/);
    expect(denialOf(new MedledgerError('WRONG_ROLE', 'x'))).toBeNull();
  });
});

describe('a duration as typed', () => {
  it('takes minutes, or hours and minutes', () => {
    expect(minutesOf('90')).toBe(90);
    expect(minutesOf(' 1h ')).toBe(60);
    expect(minutesOf('1h30m')).toBe(90);
    expect(minutesOf('45min')).toBe(45);
    expect(minutesOf('soon')).toBeNull();
    expect(minutesOf('')).toBeNull();
  });
});
