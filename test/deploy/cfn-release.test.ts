/**
 * Where the stack gets skiffmq: the release tarball at ReleaseUrl (s3:// or
 * https://), optionally pinned by ReleaseSha256. What CloudFormation accepts
 * for them, what the instance role may then read (exactly that S3 object, and
 * no S3 at all for https), and that the URL reaches skiff-apply unchanged.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { evaluate, intrinsic, loadTemplate, resolveSub, SAMPLE_VALUES, type Json, type JsonObject } from './cfn-template.js'
import { run } from './tools.js'

const tpl = loadTemplate()
const param = (name: string) => tpl.Parameters[name]!
const accepts = (name: string, value: string) => new RegExp(param(name).AllowedPattern as string).test(value)

const S3_URLS = ['s3://skiff-releases/skiffmq-0.1.0.tgz', 's3://my.bucket-1/releases/2026/skiffmq-0.2.0-rc.1.tgz', 's3://abc/a(1)!+=,@.tgz']
const HTTPS_URLS = [
  'https://github.com/example/skiffmq/releases/download/v0.1.0/skiffmq-0.1.0.tgz',
  'https://skiff-releases.s3.eu-west-1.amazonaws.com/skiffmq-0.1.0.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Feu-west-1&X-Amz-Signature=ab12',
]

t.test('ReleaseUrl: s3://bucket/key or https://, required', async (t) => {
  t.equal(param('ReleaseUrl').Default, undefined, 'no default: nothing is published that it could name')
  for (const url of [...S3_URLS, ...HTTPS_URLS]) t.ok(accepts('ReleaseUrl', url), `accepts ${url}`)
  const refused = [
    ['http://example.com/skiffmq-0.1.0.tgz', 'plain http'],
    ['https://example.com:8443/skiffmq.tgz', 'a port the security group does not let out'],
    ['s3://skiff-releases/', 'a bucket without a key'],
    ['s3://skiff-releases', 'a bucket alone'],
    ['s3://skiff-releases/*', 'an IAM wildcard in the key'],
    ['s3://skiff-releases/release?.tgz', 'an IAM wildcard in the key'],
    ['s3://Skiff_Releases/skiffmq.tgz', 'an invalid bucket name'],
    ['s3://skiff-releases//skiffmq.tgz', 'a key starting with /'],
    ["https://example.com/it's.tgz", 'a quote that would end the quoted value in deploy.env'],
    ['https://example.com/a b.tgz', 'a space'],
    ['https://example.com/x.tgz\ncurl evil', 'a new line'],
    ['s3://skiff-releases/a://b.tgz', 'a second ://'],
    ['ftp://example.com/skiffmq.tgz', 'another scheme'],
    ['', 'nothing'],
  ]
  for (const [url, why] of refused) t.notOk(accepts('ReleaseUrl', url!), `refuses ${JSON.stringify(url)}: ${why}`)
})

t.test('ReleaseSha256: empty or 64 lowercase hex digits', async (t) => {
  t.equal(param('ReleaseSha256').Default, '')
  t.ok(accepts('ReleaseSha256', ''))
  t.ok(accepts('ReleaseSha256', 'a'.repeat(64)))
  t.ok(accepts('ReleaseSha256', SAMPLE_VALUES.ReleaseSha256!))
  for (const bad of ['A'.repeat(64), 'a'.repeat(63), 'a'.repeat(65), 'g'.repeat(64), `sha256:${'a'.repeat(64)}`]) t.notOk(accepts('ReleaseSha256', bad), bad)
})

/** The instance role's inline policy statements as CloudFormation makes them for these parameter values. */
function statements(params: Record<string, string>): JsonObject[] {
  const role = tpl.Resources.InstanceRole!.Properties as JsonObject
  const policies = evaluate(tpl, role.Policies as Json, { AuthParameterName: '/skiffmq/users.json', AuthParameterKmsKeyArn: '', ...params }) as JsonObject[]
  return policies.flatMap((p) => (p.PolicyDocument as JsonObject).Statement as JsonObject[])
}

/** The ReadRelease statement as written, inside its Fn::If on ReleaseFromS3. */
function readReleaseStatement(): JsonObject {
  const role = tpl.Resources.InstanceRole!.Properties as JsonObject
  const written = (role.Policies as JsonObject[]).flatMap((p) => (p.PolicyDocument as JsonObject).Statement as Json[])
  const guarded = written.map(intrinsic).filter((f) => f?.name === 'Fn::If' && (f.arg as Json[])[0] === 'ReleaseFromS3')
  if (guarded.length !== 1) throw new Error(`expected one statement under ReleaseFromS3, found ${guarded.length}`)
  return (guarded[0]!.arg as Json[])[1] as JsonObject
}

t.test('an s3:// release: the role may get that one object and nothing else in S3', async (t) => {
  for (const url of S3_URLS) {
    t.equal(evaluate(tpl, tpl.Conditions.ReleaseFromS3!, { ReleaseUrl: url }), true, `${url} is from S3`)
    const s3 = statements({ ReleaseUrl: url }).filter((s) => JSON.stringify(s.Action).includes('s3:'))
    t.same(s3, [{ Sid: 'ReadRelease', Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${url.slice('s3://'.length)}` }], url)
  }
})

t.test('an https:// release: no S3 permission at all, and the template still evaluates', async (t) => {
  for (const url of HTTPS_URLS) {
    t.equal(evaluate(tpl, tpl.Conditions.ReleaseFromS3!, { ReleaseUrl: url }), false, `${url} is not from S3`)
    const all = statements({ ReleaseUrl: url })
    t.same(all.map((s) => s.Sid), ['ReadAuthFile', 'HelperScripts'])
    // CloudFormation may evaluate the branch an Fn::If does not take: the S3
    // ARN must be computable from an https URL too (Fn::Select in range).
    t.type(evaluate(tpl, readReleaseStatement().Resource!, { ReleaseUrl: url }), 'string', 'the untaken branch evaluates')
  }
})

t.test('deploy.env hands skiff-apply the URL and digest unchanged, whatever URL characters they hold', async (t) => {
  const init = tpl.Resources.Instance!.Metadata!['AWS::CloudFormation::Init'] as JsonObject
  const spec = ((init.config as JsonObject).files as JsonObject)['/etc/skiff/deploy.env'] as JsonObject
  const sub = (spec.content as JsonObject)['Fn::Sub'] as string
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-env-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const url of [...S3_URLS, ...HTTPS_URLS]) {
    const env = resolveSub(sub, { ...SAMPLE_VALUES, ReleaseUrl: url })
    const file = path.join(dir, 'deploy.env')
    fs.writeFileSync(file, env)
    const r = run('bash', ['-c', 'set -euo pipefail; . "$1"; printf "%s\\n%s" "$RELEASE_URL" "$RELEASE_SHA256"', 'bash', file])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout, `${url}\n${SAMPLE_VALUES.ReleaseSha256}`, url)
  }
})
