/**
 * A FHIR R4 resource shown readably: its type and title, then each element with FHIR's common data
 * types put into words (CodeableConcept, Coding, Quantity, Reference, Period, HumanName, dates).
 * Only text is rendered (the resource's XHTML narrative is not: it is the raw JSON's to show).
 */
import type { ComponentChildren } from 'preact';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const HIDDEN = new Set(['resourceType', 'id', 'meta', 'text', 'contained', 'extension', 'modifierExtension']);

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** "effectiveDateTime" → "Effective date time". */
function label(key: string): string {
  const words = key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function dateText(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toLocaleString();
}

/** A value of one of FHIR's common data types in words, or null when it is none of them. */
function summary(value: JsonObject): string | null {
  if (typeof value.text === 'string' && ('coding' in value || Object.keys(value).length === 1))
    return value.text;
  if (Array.isArray(value.coding)) {
    const codings = value.coding.filter(isObject).map((coding) => summary(coding));
    return codings.filter(Boolean).join('; ') || null;
  }
  if ('code' in value && ('system' in value || 'display' in value) && !('value' in value)) {
    return String(value.display ?? value.code);
  }
  if (typeof value.value === 'number') {
    const unit = value.unit ?? value.code ?? '';
    return `${value.comparator ?? ''}${value.value}${unit ? ` ${unit}` : ''}`;
  }
  if (typeof value.reference === 'string' || typeof value.display === 'string') {
    return String(value.display ?? value.reference);
  }
  if ('start' in value || 'end' in value) {
    return `${value.start ? dateText(String(value.start)) : '…'} – ${value.end ? dateText(String(value.end)) : '…'}`;
  }
  if (Array.isArray(value.given) || typeof value.family === 'string') {
    return [...(Array.isArray(value.given) ? value.given : []), value.family ?? ''].join(' ').trim();
  }
  if (isObject(value.low) || isObject(value.high)) {
    return `${isObject(value.low) ? summary(value.low) : '…'} – ${isObject(value.high) ? summary(value.high) : '…'}`;
  }
  return null;
}

function Value({ value }: { value: Json }): ComponentChildren {
  if (value === null) return '';
  if (typeof value === 'string') return dateText(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    if (value.length === 1) return <Value value={value[0]!} />;
    return (
      <ul>
        {value.map((item, i) => (
          <li key={i}>
            <Value value={item} />
          </li>
        ))}
      </ul>
    );
  }
  if (typeof value.resourceType === 'string') return <FhirResource resource={value} />;
  const words = summary(value);
  if (words !== null) return words;
  return <Elements resource={value} />;
}

function Elements({ resource }: { resource: JsonObject }) {
  const keys = Object.keys(resource).filter((key) => !HIDDEN.has(key) && !key.startsWith('_'));
  return (
    <dl class="fhir">
      {keys.map((key) => (
        <div class="fhir-row" key={key}>
          <dt>{label(key)}</dt>
          <dd>
            <Value value={resource[key]!} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** A resource (or a Bundle of them): a title, then its elements. */
export function FhirResource({ resource }: { resource: unknown }) {
  if (!isObject(resource as Json)) return <pre>{JSON.stringify(resource, null, 2)}</pre>;
  const object = resource as JsonObject;
  const type = typeof object.resourceType === 'string' ? object.resourceType : 'Resource';
  const title = isObject(object.code) ? summary(object.code) : null;
  return (
    <article class="fhir-resource" data-testid="fhir-resource" data-resource-type={type}>
      <h3>
        {type}
        {title ? `: ${title}` : ''}
      </h3>
      <Elements resource={object} />
    </article>
  );
}
