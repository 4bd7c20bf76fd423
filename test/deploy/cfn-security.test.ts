/**
 * What an AWS reviewer checks before signing off the stack: nothing reachable
 * that need not be, no SSH, IMDSv2 only, encrypted volumes, data kept on
 * deletion, least-privilege IAM, recovery, and creation that succeeds only
 * once the broker is ready.
 */
import t from 'tap'
import { intrinsic, isObject, loadTemplate, userData, initFiles, type Json, type JsonObject } from './cfn-template.js'

const tpl = loadTemplate()
const resources = Object.entries(tpl.Resources)
const ofType = (type: string) => resources.filter(([, r]) => r.Type === type)
const props = (name: string) => tpl.Resources[name]!.Properties as JsonObject

/** Every [path, value] leaf in a JSON tree. */
function* leaves(node: Json, path = ''): Generator<[string, Json]> {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) yield* leaves(n, `${path}[${i}]`)
  else if (isObject(node)) for (const [k, v] of Object.entries(node)) yield* leaves(v, path ? `${path}.${k}` : k)
  else yield [path, node]
}

t.test('the parameters the issue asks for exist', async (t) => {
  for (const name of ['InstanceType', 'ReleaseUrl', 'ReleaseSha256', 'VpcId', 'SubnetId', 'BrokerClientCidr', 'MetricsCidr', 'DataVolumeSize', 'AuthParameterName']) {
    t.ok(tpl.Parameters[name], name)
  }
  t.same(tpl.Conditions.CreateVpc, { 'Fn::Equals': [{ Ref: 'VpcId' }, ''] }, 'an empty VpcId creates a VPC')
})

t.test('inbound: the broker and metrics ports only, from CIDRs the deployer must name', async (t) => {
  t.same(ofType('AWS::EC2::SecurityGroupIngress'), [], 'no ingress rules outside the security group')
  const groups = ofType('AWS::EC2::SecurityGroup')
  t.equal(groups.length, 1)
  const ingress = props('BrokerSecurityGroup').SecurityGroupIngress as JsonObject[]
  const rules = ingress.map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${JSON.stringify(r.CidrIp)}`).sort()
  t.same(rules, [
    'tcp 7600-7600 {"Ref":"BrokerClientCidr"}',
    'tcp 9600-9600 {"Ref":"MetricsCidr"}',
    'udp 7600-7600 {"Ref":"BrokerClientCidr"}',
  ])
  for (const r of ingress) {
    t.notOk(Number(r.FromPort) <= 22 && Number(r.ToPort) >= 22, 'no rule covers port 22')
    t.notOk('CidrIpv6' in r || 'SourcePrefixListId' in r || 'SourceSecurityGroupId' in r, 'no other sources')
  }
  for (const name of ['BrokerClientCidr', 'MetricsCidr']) {
    t.equal(tpl.Parameters[name]!.Default, undefined, `${name} has no default: opening it is the deployer's explicit choice`)
  }
})

t.test('no literal open CIDR anywhere except outbound HTTPS and the new VPC route', async (t) => {
  const open = [...leaves(tpl as unknown as Json)].filter(([, v]) => typeof v === 'string' && /(^|[^0-9])0\.0\.0\.0\/0|::\/0/.test(v))
  t.same(open.map(([p]) => p).sort(), ['Resources.BrokerSecurityGroup.Properties.SecurityGroupEgress[0].CidrIp', 'Resources.DefaultRoute.Properties.DestinationCidrBlock'])
  const egress = props('BrokerSecurityGroup').SecurityGroupEgress as JsonObject[]
  t.same(egress.map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort}`), ['tcp 443-443'], 'egress is HTTPS only')
  t.equal(tpl.Resources.DefaultRoute!.Condition, 'CreateVpc', 'the default route exists only in the VPC the stack makes')
})

t.test('no SSH: no key pair, no port 22, Session Manager instead', async (t) => {
  const keyUses = [...leaves(tpl as unknown as Json)].filter(([p]) => /(^|\.)KeyName$/.test(p))
  t.same(keyUses, [], 'no KeyName anywhere')
  t.same(ofType('AWS::EC2::KeyPair'), [])
  const managed = props('InstanceRole').ManagedPolicyArns as Json[]
  t.ok(managed.some((a) => JSON.stringify(a).includes('policy/AmazonSSMManagedInstanceCore')), 'AmazonSSMManagedInstanceCore')
})

t.test('IMDSv2 is required by the launch template the instance uses', async (t) => {
  const data = props('LaunchTemplate').LaunchTemplateData as JsonObject
  const md = data.MetadataOptions as JsonObject
  t.equal(md.HttpTokens, 'required')
  t.equal(md.HttpEndpoint, 'enabled')
  t.equal(md.HttpPutResponseHopLimit, 1, 'tokens do not travel past the instance')
  const inst = props('Instance')
  t.same((inst.LaunchTemplate as JsonObject).LaunchTemplateId, { Ref: 'LaunchTemplate' })
  t.same((inst.LaunchTemplate as JsonObject).Version, { 'Fn::GetAtt': ['LaunchTemplate', 'LatestVersionNumber'] })
  t.notOk('MetadataOptions' in inst, 'the instance does not override the metadata options')
  t.equal(ofType('AWS::EC2::Instance').length, 1)
})

t.test('Amazon Linux 2023', async (t) => {
  const p = tpl.Parameters.ImageParameter!
  t.match(p.Type, /^AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>$/)
  t.match(p.Default, /^\/aws\/service\/ami-amazon-linux-latest\/al2023-ami-/)
  t.same(props('Instance').ImageId, { 'Fn::If': ['PinnedImage', { Ref: 'ImageId' }, { Ref: 'ImageParameter' }] }, 'a pinned AMI wins over the latest one')
  t.equal(tpl.Parameters.ImageId!.Default, '')
  t.same(tpl.Conditions.PinnedImage, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ImageId' }, ''] }] })
})

t.test('every volume is encrypted; the data volume is gp3, kept as a snapshot, mounted at /var/lib/skiff', async (t) => {
  const data = props('LaunchTemplate').LaunchTemplateData as JsonObject
  for (const m of data.BlockDeviceMappings as JsonObject[]) {
    const ebs = m.Ebs as JsonObject
    t.equal(ebs.Encrypted, true, `root ${m.DeviceName} encrypted`)
  }
  const volumes = ofType('AWS::EC2::Volume')
  t.equal(volumes.length, 1)
  for (const [name, v] of volumes) {
    t.equal(v.Properties!.Encrypted, true, `${name} encrypted`)
    t.equal(v.Properties!.VolumeType, 'gp3')
    t.equal(v.DeletionPolicy, 'Snapshot', 'a snapshot survives stack deletion')
    t.equal(v.UpdateReplacePolicy, 'Snapshot', 'and replacement')
  }
  t.same(props('DataVolume').Size, { Ref: 'DataVolumeSize' })
  t.same(props('DataVolumeAttachment'), { Device: '/dev/sdf', InstanceId: { Ref: 'Instance' }, VolumeId: { Ref: 'DataVolume' } })
  const boot = userData(tpl)
  t.match(boot, /mount \/var\/lib\/skiff/)
  t.match(boot, /\/var\/lib\/skiff xfs/)
  t.match(boot, /if \[ "\$probe" -eq 2 \]; then\n\s*mkfs\.xfs /, 'formats only a volume blkid -p finds blank')
})

t.test('IAM: one parameter readable, nothing granted on *', async (t) => {
  const role = props('InstanceRole')
  const assume = JSON.stringify(role.AssumeRolePolicyDocument)
  t.match(assume, /ec2\.\$\{AWS::URLSuffix\}/, 'only EC2 assumes the role')
  const statements = (role.Policies as JsonObject[]).flatMap((p) => ((p.PolicyDocument as JsonObject).Statement as Json[]))
  const flat = statements.flatMap((s) => {
    const fn = intrinsic(s)
    return fn?.name === 'Fn::If' ? (fn.arg as Json[]).slice(1).filter((b) => !intrinsic(b)) : [s]
  }) as JsonObject[]
  t.ok(flat.length >= 2)
  for (const s of flat) {
    t.equal(s.Effect, 'Allow')
    t.notOk([s.Action].flat().some((a) => typeof a === 'string' && a.endsWith('*')), `${s.Sid}: no wildcard action`)
    t.notOk([s.Resource].flat().includes('*'), `${s.Sid}: no wildcard resource`)
  }
  const read = flat.find((s) => s.Sid === 'ReadAuthFile')!
  t.equal(read.Action, 'ssm:GetParameter')
  t.same(read.Resource, { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${AuthParameterName}' })
  t.match(tpl.Parameters.AuthParameterName!.AllowedPattern, /^\^\//, 'the name starts with / so the ARN is well formed')
})

t.test('creation succeeds only after the broker answers /readyz', async (t) => {
  const ready = tpl.Resources.BrokerReady!
  t.equal(ready.Type, 'AWS::CloudFormation::WaitCondition')
  t.same(ready.CreationPolicy, { ResourceSignal: { Count: 1, Timeout: 'PT25M' } })
  t.equal(ready.DependsOn, 'DataVolumeAttachment', 'the wait starts once the data volume is attached')
  const boot = userData(tpl)
  const init = boot.indexOf('cfn-init" -v')
  const success = boot.indexOf('signal 0 ')
  t.ok(init > 0 && success > init, 'UserData signals success after cfn-init has run skiff-apply')
  t.match(boot, /--resource BrokerReady/)
  t.match(boot, /trap 'signal 1 /, 'any failure signals failure at once instead of waiting out the timeout')
  const apply = initFiles(tpl).find((f) => f.path === '/usr/local/sbin/skiff-apply')!
  t.match(apply.content, /readyz/)
  t.match(apply.content, /if ! wait_ready; then[\s\S]*exit 1/, 'skiff-apply fails when /readyz never answers')
  const commands = (tpl.Resources.Instance!.Metadata!['AWS::CloudFormation::Init'] as JsonObject).config as JsonObject
  t.same(commands.commands, { '01-apply': { command: '/usr/local/sbin/skiff-apply' } })
})

t.test('a CloudWatch alarm recovers the instance on system status check failure', async (t) => {
  const alarm = props('SystemRecoveryAlarm')
  t.equal(alarm.Namespace, 'AWS/EC2')
  t.equal(alarm.MetricName, 'StatusCheckFailed_System')
  t.same(alarm.Dimensions, [{ Name: 'InstanceId', Value: { Ref: 'Instance' } }])
  t.same(alarm.AlarmActions, [{ 'Fn::Sub': 'arn:${AWS::Partition}:automate:${AWS::Region}:ec2:recover' }])
  t.equal(alarm.ComparisonOperator, 'GreaterThanThreshold')
  t.equal(alarm.Threshold, 0)
})

t.test('outputs: broker endpoint, metrics URL, instance id', async (t) => {
  t.same(tpl.Outputs.BrokerEndpoint!.Value, { 'Fn::Sub': 'skiff://${Instance.PrivateIp}:7600' })
  t.same(tpl.Outputs.MetricsUrl!.Value, { 'Fn::Sub': 'http://${Instance.PrivateIp}:9600/metrics' })
  t.same(tpl.Outputs.InstanceId!.Value, { Ref: 'Instance' })
})
