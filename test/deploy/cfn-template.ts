/**
 * Reading cloudformation/skiff-broker.yaml the way CloudFormation does: the
 * short-form tags (!Ref, !GetAtt A.B, !Sub, !If ...) become their long forms
 * ({ Ref }, { 'Fn::GetAtt': [A, B] }, ...), so every check below works on one
 * plain JSON shape. Also: Fn::Sub with sample values, and the shell scripts
 * and files the template carries (UserData, cfn-init files).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse, type CollectionTag, type ScalarTag } from 'yaml'

export const templatePath = fileURLToPath(new URL('../../cloudformation/skiff-broker.yaml', import.meta.url))

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type JsonObject = { [k: string]: Json }

export interface Template {
  AWSTemplateFormatVersion?: string
  Description?: string
  Metadata?: JsonObject
  Parameters: Record<string, JsonObject>
  Rules?: JsonObject
  Mappings?: JsonObject
  Conditions: Record<string, Json>
  Resources: Record<string, Resource>
  Outputs: Record<string, JsonObject>
}

export interface Resource {
  Type: string
  Properties?: JsonObject
  Condition?: string
  DependsOn?: string | string[]
  Metadata?: JsonObject
  CreationPolicy?: JsonObject
  UpdatePolicy?: JsonObject
  DeletionPolicy?: string
  UpdateReplacePolicy?: string
}

/** Every intrinsic CloudFormation has a short-form YAML tag for. */
const SHORT_FORMS = ['Ref', 'Condition', 'Base64', 'Cidr', 'Equals', 'FindInMap', 'GetAtt', 'GetAZs', 'If', 'ImportValue', 'Join', 'Not', 'And', 'Or', 'Select', 'Split', 'Sub', 'Transform', 'Length', 'ToJsonString']

const longName = (tag: string) => (tag === 'Ref' || tag === 'Condition' ? tag : `Fn::${tag}`)

const customTags = SHORT_FORMS.flatMap((tag): (ScalarTag | CollectionTag)[] => {
  const key = longName(tag)
  const collection = (node: { toJSON(): unknown }) => ({ [key]: node.toJSON() })
  return [
    {
      tag: `!${tag}`,
      // !GetAtt Resource.Attribute is the one scalar form with structure; the
      // attribute may itself contain dots (Endpoint.Address), the resource not.
      resolve: (s: string) => (tag === 'GetAtt' ? { [key]: [s.slice(0, s.indexOf('.')), s.slice(s.indexOf('.') + 1)] } : { [key]: s }),
    },
    { tag: `!${tag}`, collection: 'seq', resolve: collection },
    { tag: `!${tag}`, collection: 'map', resolve: collection },
  ]
})

export function parseTemplate(text: string): Template {
  const doc = parse(text, { customTags, strict: true, uniqueKeys: true }) as Template
  return doc
}

export function loadTemplate(): Template {
  return parseTemplate(fs.readFileSync(templatePath, 'utf8'))
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The intrinsic function an object stands for, if it is one ({ Ref }, { Fn::X }). */
export function intrinsic(v: Json | undefined): { name: string; arg: Json } | undefined {
  if (!isObject(v)) return undefined
  const keys = Object.keys(v)
  if (keys.length !== 1) return undefined
  const name = keys[0]!
  if (name === 'Ref' || name === 'Condition' || name.startsWith('Fn::')) return { name, arg: v[name]! }
  return undefined
}

/**
 * The variables of an Fn::Sub string: `${Name}` and `${Resource.Attr}`;
 * `${!Literal}` is an escape and names nothing.
 */
export function subVariables(s: string): string[] {
  const out: string[] = []
  for (const m of s.matchAll(/\$\{([^}]*)\}/g)) {
    if (!m[1]!.startsWith('!')) out.push(m[1]!.trim())
  }
  return out
}

/**
 * Fn::Sub as CloudFormation evaluates it, with sample values: `${!x}` becomes
 * the literal `${x}`; a variable missing from `values` is an error, so a
 * script that uses `${shellVar}` by mistake fails here, not on the instance.
 */
export function resolveSub(s: string, values: Record<string, string>): string {
  return s.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    if (name.startsWith('!')) return '${' + name.slice(1) + '}'
    const v = values[name.trim()]
    if (v === undefined) throw new Error(`Fn::Sub variable \${${name}} has no value`)
    return v
  })
}

/** Sample values for every Fn::Sub variable the template uses. */
export const SAMPLE_VALUES: Record<string, string> = {
  'AWS::StackName': 'skiff-test',
  'AWS::StackId': 'arn:aws:cloudformation:eu-west-1:123456789012:stack/skiff-test/0a1b2c3d-0000-0000-0000-000000000000',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  ReleaseUrl: 's3://skiff-releases/skiffmq/skiffmq-0.1.0.tgz',
  ReleaseSha256: '7e662aca8b477306b1263966e6421e279323416e61edbdfd6222269f82e0f4cf',
  NodeMajorVersion: '24',
  AuthParameterName: '/skiffmq/users.json',
  'Instance.PrivateIp': '10.42.0.10',
  'Instance.PublicIp': '203.0.113.10',
  Instance: 'i-0123456789abcdef0',
}

/** A string-valued template field (a literal or an Fn::Sub string) evaluated with the sample values. */
export function textOf(v: Json | undefined): string {
  if (typeof v === 'string') return v
  const fn = intrinsic(v)
  if (fn?.name === 'Fn::Sub' && typeof fn.arg === 'string') return resolveSub(fn.arg, SAMPLE_VALUES)
  if (fn?.name === 'Fn::Base64') return textOf(fn.arg)
  throw new Error(`expected a string or !Sub string, got ${JSON.stringify(v)}`)
}

export interface CarriedFile {
  /** Where it lands on the instance. */
  path: string
  mode: string
  content: string
}

/** The instance's UserData script, as the instance receives it. */
export function userData(t: Template): string {
  const data = t.Resources.LaunchTemplate!.Properties!.LaunchTemplateData as JsonObject
  return textOf(data.UserData)
}

/** The files cfn-init writes on the instance (AWS::CloudFormation::Init config). */
export function initFiles(t: Template): CarriedFile[] {
  const init = t.Resources.Instance!.Metadata!['AWS::CloudFormation::Init'] as JsonObject
  const files = (init.config as JsonObject).files as JsonObject
  return Object.entries(files).map(([path, spec]) => {
    const f = spec as JsonObject
    return { path, mode: String(f.mode), content: textOf(f.content) }
  })
}

/** Every shell script the instance runs: UserData and each executable cfn-init file. */
export function shellScripts(t: Template): { name: string; content: string }[] {
  const out = [{ name: 'UserData', content: userData(t) }]
  for (const f of initFiles(t)) {
    const executable = (parseInt(f.mode, 8) & 0o111) !== 0
    if (executable || f.content.startsWith('#!')) out.push({ name: f.path, content: f.content })
  }
  return out
}

/**
 * A template value as CloudFormation computes it at deploy time, for the
 * intrinsics the release parameters go through (Ref, Fn::Split, Fn::Select,
 * Fn::Sub, Fn::Equals, Fn::If, Condition): `params` are the parameter values,
 * pseudo parameters come from SAMPLE_VALUES. Fn::Select out of range throws,
 * as it fails the stack.
 */
export function evaluate(t: Template, node: Json, params: Record<string, string>): Json {
  const fn = intrinsic(node)
  if (!fn) {
    // AWS::NoValue drops a list element, as CloudFormation does.
    if (Array.isArray(node)) return node.map((n) => evaluate(t, n, params)).filter((v) => v !== null)
    if (isObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, evaluate(t, v, params)]))
    return node
  }
  const args = fn.arg as Json[]
  const value = (name: string): string => {
    const v = params[name] ?? (name.startsWith('AWS::') ? SAMPLE_VALUES[name] : undefined)
    if (v === undefined) throw new Error(`no value for ${name}`)
    return v
  }
  switch (fn.name) {
    case 'Ref':
      return fn.arg === 'AWS::NoValue' ? null : value(fn.arg as string)
    case 'Condition':
      return evaluate(t, t.Conditions[fn.arg as string]!, params)
    case 'Fn::Split':
      return String(evaluate(t, args[1]!, params)).split(String(args[0]))
    case 'Fn::Select': {
      const list = evaluate(t, args[1]!, params) as Json[]
      const i = Number(evaluate(t, args[0]!, params))
      if (!(i >= 0 && i < list.length)) throw new Error(`Fn::Select cannot select nonexistent value at index ${i}`)
      return list[i]!
    }
    case 'Fn::Equals':
      return evaluate(t, args[0]!, params) === evaluate(t, args[1]!, params)
    case 'Fn::Not':
      return !evaluate(t, args[0]!, params)
    case 'Fn::If': {
      const holds = evaluate(t, t.Conditions[args[0] as string]!, params)
      return evaluate(t, args[holds ? 1 : 2]!, params)
    }
    case 'Fn::Sub': {
      const [text, vars] = typeof fn.arg === 'string' ? [fn.arg, {}] : [args[0] as string, (args[1] ?? {}) as JsonObject]
      const local = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(evaluate(t, v, params))]))
      return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => (name.startsWith('!') ? '${' + name.slice(1) + '}' : local[name] ?? value(name)))
    }
    default:
      throw new Error(`evaluate does not know ${fn.name}`)
  }
}
