/**
 * A CloudFormation template checked against the resource specification that
 * @aws-cdk/aws-service-spec carries (the CloudFormation Resource
 * Specification merged with the registry schemas, kept current by the CDK
 * team): every resource type and property exists, required properties are
 * present, nested property types are followed, literal values have the right
 * primitive type; and, across the whole template, every Ref, GetAtt, Sub
 * variable, condition and DependsOn names something that exists, and a
 * reference to a conditional resource is guarded by that condition.
 *
 * checkTemplate returns the problems as sentences, so a test shows them all at
 * once, and so the checker itself can be tested on broken templates.
 */
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec'
import { intrinsic, isObject, subVariables, type Json, type JsonObject, type Template } from './cfn-template.js'

// The few shapes of the spec database used here (its own types live in a
// transitive package; these are what this checker relies on).
interface SpecType {
  type: string
  reference?: { $ref: string }
  element?: SpecType
  types?: SpecType[]
  allowedValues?: (string | number)[]
}
interface SpecProperty {
  required?: boolean
  type: SpecType
}
interface SpecShape {
  name?: string
  properties: Record<string, SpecProperty>
}
interface SpecResource extends SpecShape {
  cloudFormationType: string
  attributes: Record<string, unknown>
}
interface SpecDb {
  lookup(collection: 'resource', index: 'cloudFormationType', op: 'equals', value: string): SpecResource[]
  get(collection: 'typeDefinition', id: string): SpecShape
}

let db: SpecDb | undefined
function spec(): SpecDb {
  db ??= loadAwsServiceSpecSync() as unknown as SpecDb
  return db
}

export function resourceSpec(type: string): SpecResource | undefined {
  return spec().lookup('resource', 'cloudFormationType', 'equals', type)[0]
}

const TOP_LEVEL = new Set(['AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Rules', 'Mappings', 'Conditions', 'Transform', 'Resources', 'Outputs'])
const RESOURCE_KEYS = new Set(['Type', 'Properties', 'Condition', 'DependsOn', 'Metadata', 'CreationPolicy', 'UpdatePolicy', 'DeletionPolicy', 'UpdateReplacePolicy'])
const DELETION_POLICIES = new Set(['Delete', 'Retain', 'RetainExceptOnCreate', 'Snapshot'])
/** The resource types CloudFormation accepts a CreationPolicy on. */
const CREATION_POLICY_TYPES = new Set(['AWS::EC2::Instance', 'AWS::AutoScaling::AutoScalingGroup', 'AWS::CloudFormation::WaitCondition', 'AWS::AppStream::Fleet'])
/** Types whose DeletionPolicy may be Snapshot. */
const SNAPSHOT_TYPES = new Set(['AWS::EC2::Volume', 'AWS::ElastiCache::CacheCluster', 'AWS::ElastiCache::ReplicationGroup', 'AWS::Neptune::DBCluster', 'AWS::RDS::DBCluster', 'AWS::RDS::DBInstance', 'AWS::Redshift::Cluster', 'AWS::DocDB::DBCluster'])
const PSEUDO = new Set(['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix'])
const PARAMETER_TYPE = /^(String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9:]+|List<AWS::[A-Za-z0-9:]+>|AWS::SSM::Parameter::Name|AWS::SSM::Parameter::Value<.+>)$/

export function checkTemplate(t: Template): string[] {
  const problems: string[] = []
  const p = (s: string) => problems.push(s)
  for (const k of Object.keys(t)) if (!TOP_LEVEL.has(k)) p(`unknown top-level section ${k}`)
  if (!isObject(t.Resources as unknown as Json) || Object.keys(t.Resources).length === 0) p('no Resources')

  checkParameters(t, p)
  const used = { params: new Set<string>(), conditions: new Set<string>() }
  const refs = new ReferenceChecker(t, p, used)

  for (const [name, cond] of Object.entries(t.Conditions ?? {})) refs.walk(cond, new Set(), `Conditions.${name}`, 'condition')
  for (const [name, rule] of Object.entries(t.Rules ?? {})) refs.walk(rule as Json, new Set(), `Rules.${name}`, 'rule')

  for (const [name, r] of Object.entries(t.Resources)) {
    const where = `Resources.${name}`
    for (const k of Object.keys(r)) if (!RESOURCE_KEYS.has(k)) p(`${where}: unknown key ${k}`)
    const guards = new Set<string>()
    if (r.Condition !== undefined) {
      guards.add(r.Condition)
      refs.useCondition(r.Condition, where)
    }
    for (const dep of r.DependsOn === undefined ? [] : [r.DependsOn].flat()) refs.resource(dep, guards, `${where}.DependsOn`)
    for (const [policy, value] of [['DeletionPolicy', r.DeletionPolicy], ['UpdateReplacePolicy', r.UpdateReplacePolicy]] as const) {
      if (value === undefined) continue
      if (!DELETION_POLICIES.has(value)) p(`${where}: ${policy} ${value} is not one of ${[...DELETION_POLICIES].join(', ')}`)
      if (value === 'Snapshot' && !SNAPSHOT_TYPES.has(r.Type)) p(`${where}: ${r.Type} cannot be snapshotted (${policy})`)
    }
    if (r.CreationPolicy && !CREATION_POLICY_TYPES.has(r.Type)) p(`${where}: ${r.Type} does not take a CreationPolicy`)

    const rs = resourceSpec(r.Type)
    if (!rs) {
      p(`${where}: unknown resource type ${r.Type}`)
    } else {
      checkShape(rs, r.Properties ?? {}, `${where}.Properties`, p)
    }
    refs.walk((r.Properties ?? {}) as Json, guards, `${where}.Properties`, 'resource')
    if (r.Metadata) refs.walk(r.Metadata, guards, `${where}.Metadata`, 'resource')
    if (r.CreationPolicy) refs.walk(r.CreationPolicy, guards, `${where}.CreationPolicy`, 'resource')
  }

  for (const [name, o] of Object.entries(t.Outputs ?? {})) {
    const guards = new Set<string>()
    if (typeof o.Condition === 'string') {
      guards.add(o.Condition)
      refs.useCondition(o.Condition, `Outputs.${name}`)
    }
    if (o.Value === undefined) p(`Outputs.${name}: no Value`)
    refs.walk(o as Json, guards, `Outputs.${name}`, 'output')
  }

  for (const name of Object.keys(t.Parameters ?? {})) if (!used.params.has(name)) p(`Parameters.${name} is never used`)
  for (const name of Object.keys(t.Conditions ?? {})) if (!used.conditions.has(name)) p(`Conditions.${name} is never used`)
  return problems
}

function checkParameters(t: Template, p: (s: string) => void): void {
  for (const [name, param] of Object.entries(t.Parameters ?? {})) {
    const where = `Parameters.${name}`
    const type = param.Type
    if (typeof type !== 'string' || !PARAMETER_TYPE.test(type)) p(`${where}: invalid Type ${JSON.stringify(type)}`)
    const d = param.Default
    if (d === undefined) continue
    if (typeof param.AllowedPattern === 'string' && !new RegExp(param.AllowedPattern).test(String(d))) p(`${where}: Default ${JSON.stringify(d)} does not match its AllowedPattern`)
    if (Array.isArray(param.AllowedValues) && !param.AllowedValues.map(String).includes(String(d))) p(`${where}: Default ${JSON.stringify(d)} is not among its AllowedValues`)
    if (typeof param.MinValue === 'number' && Number(d) < param.MinValue) p(`${where}: Default below MinValue`)
    if (typeof param.MaxValue === 'number' && Number(d) > param.MaxValue) p(`${where}: Default above MaxValue`)
  }
}

/** Properties of a resource or of a nested property type. */
function checkShape(shape: SpecShape, props: Json, where: string, p: (s: string) => void): void {
  const fn = intrinsic(props)
  if (fn?.name === 'Fn::If' && Array.isArray(fn.arg)) {
    for (const branch of fn.arg.slice(1)) if (!isNoValue(branch)) checkShape(shape, branch, where, p)
    return
  }
  if (fn) return // computed elsewhere; nothing to check literally
  if (!isObject(props)) {
    p(`${where}: expected an object of ${shape.name ?? 'properties'}, got ${JSON.stringify(props)}`)
    return
  }
  for (const [k, v] of Object.entries(props)) {
    const prop = shape.properties[k]
    if (!prop) {
      p(`${where}: unknown property ${k}${shape.name ? ` of ${shape.name}` : ''}`)
      continue
    }
    checkValue(v, prop.type, `${where}.${k}`, p)
  }
  for (const [k, prop] of Object.entries(shape.properties)) {
    if (prop.required && !(k in props)) p(`${where}: required property ${k} is missing`)
  }
}

function isNoValue(v: Json): boolean {
  const fn = intrinsic(v)
  return fn?.name === 'Ref' && fn.arg === 'AWS::NoValue'
}

/** Problems a value would have as `type`; used to try each member of a union. */
function problemsOf(v: Json, type: SpecType, where: string): string[] {
  const out: string[] = []
  checkValue(v, type, where, (s) => out.push(s))
  return out
}

function checkValue(v: Json, type: SpecType, where: string, p: (s: string) => void): void {
  const fn = intrinsic(v)
  if (fn) {
    if (fn.name === 'Fn::If' && Array.isArray(fn.arg)) {
      for (const branch of fn.arg.slice(1)) if (!isNoValue(branch)) checkValue(branch, type, where, p)
    }
    return // other intrinsics compute their value at deploy time
  }
  switch (type.type) {
    case 'string':
    case 'date-time':
      if (typeof v === 'object') p(`${where}: expected a string, got ${JSON.stringify(v)}`)
      else if (type.allowedValues && !type.allowedValues.includes(String(v))) p(`${where}: ${JSON.stringify(v)} is not one of ${type.allowedValues.join(', ')}`)
      return
    case 'integer':
    case 'number':
      if (typeof v === 'number' ? (type.type === 'integer' && !Number.isInteger(v)) : !(typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v))) p(`${where}: expected a ${type.type}, got ${JSON.stringify(v)}`)
      return
    case 'boolean':
      if (typeof v !== 'boolean' && v !== 'true' && v !== 'false') p(`${where}: expected a boolean, got ${JSON.stringify(v)}`)
      return
    case 'json':
    case 'null':
      return
    case 'tag':
      if (!isObject(v) || !('Key' in v) || !('Value' in v)) p(`${where}: expected a { Key, Value } tag`)
      return
    case 'array':
      if (!Array.isArray(v)) {
        p(`${where}: expected a list, got ${JSON.stringify(v)}`)
        return
      }
      v.forEach((e, i) => {
        if (!isNoValue(e)) checkValue(e, type.element!, `${where}[${i}]`, p)
      })
      return
    case 'map':
      if (!isObject(v)) {
        p(`${where}: expected a map, got ${JSON.stringify(v)}`)
        return
      }
      for (const [k, e] of Object.entries(v)) checkValue(e, type.element!, `${where}.${k}`, p)
      return
    case 'ref':
      checkShape(spec().get('typeDefinition', type.reference!.$ref), v, where, p)
      return
    case 'union': {
      const tries = type.types!.map((u) => problemsOf(v, u, where))
      if (!tries.some((t) => t.length === 0)) tries.sort((a, b) => a.length - b.length)[0]!.forEach(p)
      return
    }
    default:
      p(`${where}: the checker does not know spec type ${type.type}`)
  }
}

type Section = 'condition' | 'rule' | 'resource' | 'output'

/** Walks any part of the template and checks every name it references. */
class ReferenceChecker {
  constructor(
    private readonly t: Template,
    private readonly p: (s: string) => void,
    private readonly used: { params: Set<string>; conditions: Set<string> },
  ) {}

  useCondition(name: string, where: string): void {
    if (!(name in (this.t.Conditions ?? {}))) this.p(`${where}: unknown condition ${name}`)
    this.used.conditions.add(name)
  }

  /** A resource named from `where`, under the conditions `guards` known to hold there. */
  resource(name: string, guards: Set<string>, where: string): SpecResource | undefined {
    const r = this.t.Resources[name]
    if (!r) {
      this.p(`${where}: unknown resource ${name}`)
      return undefined
    }
    if (r.Condition !== undefined && !guards.has(r.Condition)) this.p(`${where}: ${name} exists only under condition ${r.Condition}, which does not guard this reference`)
    return resourceSpec(r.Type)
  }

  ref(name: string, guards: Set<string>, where: string, section: Section): void {
    if (PSEUDO.has(name)) return
    if (name in (this.t.Parameters ?? {})) {
      this.used.params.add(name)
      return
    }
    if (section === 'condition' || section === 'rule') {
      this.p(`${where}: ${name} is not a parameter (conditions and rules may only name parameters)`)
      return
    }
    this.resource(name, guards, where)
  }

  getAtt(name: string, attr: string, guards: Set<string>, where: string): void {
    const rs = this.resource(name, guards, where)
    if (rs && !(attr in rs.attributes)) this.p(`${where}: ${rs.cloudFormationType} has no attribute ${attr} (has ${Object.keys(rs.attributes).join(', ')})`)
  }

  walk(node: Json, guards: Set<string>, where: string, section: Section): void {
    const fn = intrinsic(node)
    if (!fn) {
      if (Array.isArray(node)) node.forEach((n, i) => this.walk(n, guards, `${where}[${i}]`, section))
      else if (isObject(node)) for (const [k, v] of Object.entries(node)) this.walk(v, guards, `${where}.${k}`, section)
      return
    }
    const { name, arg } = fn
    switch (name) {
      case 'Ref':
        if (typeof arg !== 'string') this.p(`${where}: Ref takes a name`)
        else this.ref(arg, guards, where, section)
        return
      case 'Condition':
        if (typeof arg !== 'string') this.p(`${where}: Condition takes a name`)
        else this.useCondition(arg, where)
        return
      case 'Fn::GetAtt': {
        const [res, attr] = typeof arg === 'string' ? [arg.slice(0, arg.indexOf('.')), arg.slice(arg.indexOf('.') + 1)] : Array.isArray(arg) ? arg : []
        if (typeof res !== 'string' || typeof attr !== 'string') this.p(`${where}: GetAtt takes [resource, attribute]`)
        else this.getAtt(res, attr, guards, where)
        return
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : Array.isArray(arg) ? [arg[0], arg[1] ?? {}] : [undefined, {}]
        if (typeof text !== 'string' || !isObject(vars)) {
          this.p(`${where}: Sub takes a string or [string, variables]`)
          return
        }
        for (const [k, v] of Object.entries(vars)) this.walk(v, guards, `${where}.${k}`, section)
        for (const v of subVariables(text)) {
          if (v in vars) continue
          const dot = v.indexOf('.')
          if (dot > 0 && !v.startsWith('AWS::')) this.getAtt(v.slice(0, dot), v.slice(dot + 1), guards, `${where} \${${v}}`)
          else this.ref(v, guards, `${where} \${${v}}`, section)
        }
        return
      }
      case 'Fn::If': {
        if (!Array.isArray(arg) || arg.length !== 3 || typeof arg[0] !== 'string') {
          this.p(`${where}: If takes [condition, then, else]`)
          return
        }
        this.useCondition(arg[0], where)
        this.walk(arg[1]!, new Set([...guards, arg[0]]), `${where}[then]`, section)
        this.walk(arg[2]!, guards, `${where}[else]`, section)
        return
      }
      default:
        this.walk(arg, guards, `${where}.${name}`, section)
    }
  }
}
