/**
 * A checker of the Kubernetes structural-schema rules (apiextensions.k8s.io/v1), so the
 * CRDs are proven acceptable without an API server:
 *  1. every node has a non-empty type, except nodes with x-kubernetes-int-or-string or
 *     x-kubernetes-preserve-unknown-fields;
 *  2. inside allOf/anyOf/oneOf/not: no type, description, default, additionalProperties
 *     or nullable, except the int-or-string form anyOf: [{type: integer}, {type: string}];
 *     every property named inside a junctor is also specified outside it;
 *  3. no $ref, definitions, dependencies, patternProperties, additionalItems, const,
 *     uniqueItems: true, or keywords the API server does not know;
 *  4. properties and additionalProperties are mutually exclusive, additionalProperties
 *     is never false;
 *  5. metadata at the root restricts at most name and generateName;
 *  6. arrays have items (a single schema), objects with items are not allowed.
 */
export interface StructuralViolation {
  readonly path: string;
  readonly message: string;
}

const ALLOWED = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties',
  'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties',
  'externalDocs', 'example', 'nullable',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-validations',
]);
const FORBIDDEN = new Set(['$ref', 'definitions', 'dependencies', 'patternProperties', 'additionalItems', 'const', 'id', '$schema']);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
const NOT_IN_JUNCTOR = ['type', 'description', 'default', 'additionalProperties', 'nullable'];

type S = Record<string, unknown>;

function isIntOrStringForm(s: S): boolean {
  const ok = (l: unknown) => Array.isArray(l) && l.length === 2
    && JSON.stringify(l[0]) === '{"type":"integer"}' && JSON.stringify(l[1]) === '{"type":"string"}';
  if (s['x-kubernetes-int-or-string'] !== true) return false;
  if (s.anyOf !== undefined) return ok(s.anyOf);
  if (Array.isArray(s.allOf)) return (s.allOf as S[]).every((a) => ok(a.anyOf));
  return true;
}

/** Check an openAPIV3Schema; [] when it is structural. */
export function checkStructural(root: unknown): StructuralViolation[] {
  const out: StructuralViolation[] = [];
  const bad = (path: string, message: string) => out.push({ path, message });

  const walkJunctor = (s: S, path: string, outside: S) => {
    for (const k of Object.keys(s)) {
      if (!ALLOWED.has(k)) bad(`${path}.${k}`, `keyword ${JSON.stringify(k)} is not allowed`);
      if (NOT_IN_JUNCTOR.includes(k)) bad(`${path}.${k}`, `${k} must not be set inside a logical junctor`);
    }
    const outProps = (outside.properties ?? {}) as S;
    for (const p of Object.keys((s.properties ?? {}) as S)) {
      if (!(p in outProps)) bad(`${path}.properties.${p}`, `property ${p} is specified inside a junctor but not outside it`);
    }
    if (s.items !== undefined && outside.items === undefined) bad(`${path}.items`, 'items specified inside a junctor but not outside it');
    for (const j of JUNCTORS) {
      const v = s[j];
      if (v === undefined) continue;
      for (const [i, sub] of (Array.isArray(v) ? v : [v]).entries()) walkJunctor(sub as S, `${path}.${j}[${i}]`, outside);
    }
    for (const [p, sub] of Object.entries((s.properties ?? {}) as S)) walkJunctor(sub as S, `${path}.properties.${p}`, ((outside.properties ?? {}) as S)[p] as S ?? {});
  };

  const walk = (node: unknown, path: string, isRoot: boolean) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) { bad(path, 'schema node must be an object'); return; }
    const s = node as S;
    for (const k of Object.keys(s)) {
      if (FORBIDDEN.has(k)) bad(`${path}.${k}`, `${k} is not allowed in a structural schema`);
      else if (!ALLOWED.has(k)) bad(`${path}.${k}`, `unknown keyword ${JSON.stringify(k)}`);
    }
    if (s.uniqueItems === true) bad(`${path}.uniqueItems`, 'uniqueItems: true is not allowed');
    const intOrString = s['x-kubernetes-int-or-string'] === true;
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    if (s.type === undefined || s.type === '') {
      if (!intOrString && !preserve) bad(path, 'type is missing');
    } else if (typeof s.type !== 'string' || !TYPES.has(s.type)) {
      bad(`${path}.type`, `type must be one of ${[...TYPES].join(', ')}`);
    }
    if (intOrString && s.type !== undefined) bad(`${path}.type`, 'x-kubernetes-int-or-string nodes must not set type');
    if (s.properties !== undefined && s.additionalProperties !== undefined && s.additionalProperties !== true) {
      bad(`${path}.additionalProperties`, 'additionalProperties and properties are mutually exclusive');
    }
    if (s.additionalProperties === false) bad(`${path}.additionalProperties`, 'additionalProperties: false is not allowed (the API server prunes unknown fields)');
    if ((s.properties !== undefined || s.additionalProperties !== undefined) && s.type !== 'object' && !preserve) {
      bad(path, 'properties/additionalProperties need type: object');
    }
    if (s.type === 'array' && (s.items === undefined || Array.isArray(s.items))) bad(`${path}.items`, 'arrays need items with a single schema');
    if (s.items !== undefined && s.type !== 'array') bad(`${path}.items`, 'items needs type: array');

    for (const j of JUNCTORS) {
      const v = s[j];
      if (v === undefined) continue;
      if (j === 'anyOf' && intOrString && isIntOrStringForm(s)) continue;
      if (j === 'allOf' && intOrString && isIntOrStringForm(s)) continue;
      for (const [i, sub] of (Array.isArray(v) ? v : [v]).entries()) walkJunctor(sub as S, `${path}.${j}[${i}]`, s);
    }
    if (intOrString && !isIntOrStringForm(s) && (s.anyOf !== undefined || s.allOf !== undefined)) {
      bad(path, 'x-kubernetes-int-or-string must use anyOf: [{type: integer}, {type: string}] exactly');
    }

    for (const [p, sub] of Object.entries((s.properties ?? {}) as S)) {
      if (isRoot && p === 'metadata') { checkMetadata(sub as S, `${path}.properties.metadata`); continue; }
      walk(sub, `${path}.properties.${p}`, false);
    }
    if (s.additionalProperties !== undefined && typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}.additionalProperties`, false);
    if (s.items !== undefined && !Array.isArray(s.items)) walk(s.items, `${path}.items`, false);
  };

  const checkMetadata = (s: S, path: string) => {
    if (s.type !== 'object') bad(`${path}.type`, 'metadata must have type: object');
    for (const k of Object.keys(s)) if (!['type', 'properties', 'description'].includes(k)) bad(`${path}.${k}`, `metadata may only restrict name and generateName, not set ${k}`);
    for (const [p, sub] of Object.entries((s.properties ?? {}) as S)) {
      if (p !== 'name' && p !== 'generateName') bad(`${path}.properties.${p}`, 'metadata may only restrict name and generateName');
      else walk(sub, `${path}.properties.${p}`, false);
    }
  };

  if (root === null || typeof root !== 'object') return [{ path: '', message: 'schema must be an object' }];
  if ((root as S).type !== 'object') bad('.type', 'the root must have type: object');
  walk(root, '', true);
  return out;
}
