/**
 * cloudformation/skiff-broker.yaml against the CloudFormation resource
 * specification: types, properties, required properties, references. Then the
 * checker on broken copies of the template, so a check that silently passes
 * everything cannot go unnoticed.
 */
import t from 'tap'
import { checkTemplate } from './cfn-spec.js'
import fs from 'node:fs'
import { loadTemplate, templatePath, userData, type JsonObject, type Template } from './cfn-template.js'

t.test('the template parses with its short-form tags', async (t) => {
  const tpl = loadTemplate()
  t.equal(tpl.AWSTemplateFormatVersion, '2010-09-09')
  t.same(tpl.Resources.Instance!.Properties!.SubnetId, { 'Fn::If': ['CreateVpc', { Ref: 'PublicSubnet' }, { Ref: 'SubnetId' }] })
  t.same(tpl.Resources.DataVolume!.Properties!.AvailabilityZone, { 'Fn::GetAtt': ['Instance', 'AvailabilityZone'] })
})

t.test('the template matches the resource specification and all its references resolve', async (t) => {
  const problems = checkTemplate(loadTemplate())
  t.same(problems, [], problems.join('\n'))
})

t.test('within the limits of a one-command deploy', async (t) => {
  // Past 51,200 bytes `aws cloudformation deploy` needs an S3 bucket.
  t.ok(fs.statSync(templatePath).size <= 51_200, 'template body at most 51,200 bytes')
  // EC2 refuses user data over 16 KiB (before base64).
  t.ok(Buffer.byteLength(userData(loadTemplate())) <= 16_384, 'UserData at most 16 KiB')
})

/** A fresh copy of the template with one change made by `edit`. */
function broken(edit: (tpl: Template) => void): Template {
  const tpl = loadTemplate()
  edit(tpl)
  return tpl
}

const props = (tpl: Template, name: string) => tpl.Resources[name]!.Properties as JsonObject

const MUTATIONS: [string, (tpl: Template) => void, RegExp][] = [
  ['an unknown resource type', (tpl) => (tpl.Resources.DataVolume!.Type = 'AWS::EC2::Volumes'), /unknown resource type AWS::EC2::Volumes/],
  ['an unknown property', (tpl) => (props(tpl, 'DataVolume').Encrypt = true), /DataVolume\.Properties: unknown property Encrypt/],
  ['an unknown nested property', (tpl) => ((props(tpl, 'LaunchTemplate').LaunchTemplateData as JsonObject).MetadataOptions = { HttpToken: 'required' }), /unknown property HttpToken/],
  ['a missing required property', (tpl) => delete props(tpl, 'LaunchTemplate').LaunchTemplateData, /required property LaunchTemplateData is missing/],
  ['a missing required nested property', (tpl) => (props(tpl, 'BrokerSecurityGroup').SecurityGroupIngress = [{ FromPort: 1, ToPort: 1 }]), /required property IpProtocol is missing/],
  ['a wrong primitive type', (tpl) => (props(tpl, 'DataVolume').Encrypted = 'yes'), /Encrypted: expected a boolean/],
  ['a Ref to nothing', (tpl) => (props(tpl, 'DataVolumeAttachment').InstanceId = { Ref: 'Instances' }), /unknown resource Instances/],
  ['a GetAtt of a missing attribute', (tpl) => (props(tpl, 'DataVolume').AvailabilityZone = { 'Fn::GetAtt': ['Instance', 'Zone'] }), /has no attribute Zone/],
  ['a Sub variable that names nothing', (tpl) => (tpl.Outputs.MetricsUrl!.Value = { 'Fn::Sub': 'http://${Instance.PrivateAddress}:9600/metrics' }), /has no attribute PrivateAddress/],
  ['an unguarded Ref to a conditional resource', (tpl) => (props(tpl, 'BrokerSecurityGroup').VpcId = { Ref: 'Vpc' }), /Vpc exists only under condition CreateVpc/],
  ['an If on an unknown condition', (tpl) => (props(tpl, 'Instance').SubnetId = { 'Fn::If': ['MakeVpc', { Ref: 'PublicSubnet' }, { Ref: 'SubnetId' }] }), /unknown condition MakeVpc/],
  ['a DependsOn on nothing', (tpl) => (tpl.Resources.BrokerReady!.DependsOn = 'VolumeAttachment'), /unknown resource VolumeAttachment/],
  ['a CreationPolicy where none is allowed', (tpl) => (tpl.Resources.DataVolume!.CreationPolicy = { ResourceSignal: { Count: 1 } }), /does not take a CreationPolicy/],
  ['an unused parameter', (tpl) => (tpl.Parameters.Spare = { Type: 'String', Default: '' }), /Parameters\.Spare is never used/],
  ['a default outside its pattern', (tpl) => (tpl.Parameters.ReleaseSha256!.Default = 'latest'), /ReleaseSha256: Default "latest" does not match/],
]

t.test('the checker finds each kind of mistake', async (t) => {
  for (const [what, edit, expected] of MUTATIONS) {
    const problems = checkTemplate(broken(edit))
    t.ok(problems.some((p) => expected.test(p)), `${what}: ${problems.join(' | ') || 'no problem reported'}`)
  }
})
