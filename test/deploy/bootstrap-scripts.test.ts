/**
 * The scripts and files the stack puts on the instance: every shell script
 * (UserData, skiff-apply) passes shellcheck after Fn::Sub has done its work;
 * the unit it installs is the one in deploy/; the broker config it writes names
 * only options the broker knows, on the ports the security group opens.
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DEFAULTS } from '../../broker/config.js'
import { initFiles, loadTemplate, shellScripts, userData } from './cfn-template.js'
import { loadDockerfile } from './dockerfile.js'
import { missing, run, SHELLCHECK } from './tools.js'

const tpl = loadTemplate()
const unitPath = fileURLToPath(new URL('../../deploy/skiff-broker.service', import.meta.url))
const file = (path: string) => {
  const f = initFiles(tpl).find((f) => f.path === path)
  if (!f) throw new Error(`the template writes no ${path}`)
  return f
}

t.test('the instance runs two shell scripts, both bash', async (t) => {
  const scripts = shellScripts(tpl)
  t.same(scripts.map((s) => s.name), ['UserData', '/usr/local/sbin/skiff-apply'])
  for (const s of scripts) {
    t.ok(s.content.startsWith('#!/bin/bash\n'), `${s.name} starts with #!/bin/bash`)
    t.match(s.content, /^set -euo pipefail$/m, `${s.name} stops at the first failure`)
  }
})

t.test('every shell script passes shellcheck', { skip: missing(SHELLCHECK) }, async (t) => {
  for (const s of shellScripts(tpl)) {
    const r = run('shellcheck', ['--norc', '--shell=bash', '--severity=style', '--format=gcc', '-'], { input: s.content })
    t.equal(r.status, 0, `${s.name}\n${r.stdout}${r.stderr}`)
  }
})

t.test('shellcheck does fail a faulty script (the check is live)', { skip: missing(SHELLCHECK) }, async (t) => {
  const r = run('shellcheck', ['--norc', '--shell=bash', '-'], { input: '#!/bin/bash\nrm -rf $dir/*\n' })
  t.not(r.status, 0)
  t.match(r.stdout, /SC2086|SC2115/)
})

t.test('the unit the stack installs is deploy/skiff-broker.service, byte for byte', async (t) => {
  const carried = file('/etc/systemd/system/skiff-broker.service')
  t.equal(carried.content, fs.readFileSync(unitPath, 'utf8'))
  t.equal(carried.mode, '000644')
})

t.test('the broker config names known options, listens beyond loopback, with an auth file', async (t) => {
  const f = file('/etc/skiff/skiff.json')
  t.equal(f.mode, '000640', 'readable by root and the skiff group only')
  const config = JSON.parse(f.content) as Record<string, unknown>
  for (const key of Object.keys(config)) {
    // authFile arrives with the security work; until then it is expected, not known.
    const pending = key === 'authFile' && !(key in DEFAULTS)
    t.ok(key in DEFAULTS, `${key} is a broker option`, pending ? { todo: 'authFile lands with the auth file option' } : {})
  }
  t.same(config, { host: '0.0.0.0', port: 7600, httpPort: 9600, httpHost: '0.0.0.0', dataDir: '/var/lib/skiff', authFile: '/etc/skiff/users.json' }, 'httpHost: the scrape comes from MetricsCidr')
  const apply = file('/usr/local/sbin/skiff-apply').content
  t.match(apply, /mv -f "\$auth" \/etc\/skiff\/users\.json/, 'skiff-apply writes the auth file the config names')
  t.match(apply, /chmod 0640 "\$auth"/)
  t.match(file('/etc/skiff/deploy.env').content, /^HTTP_PORT=9600$/m, 'skiff-apply waits for /readyz on the HTTP port')
})

t.test('upgrades arrive through cfn-hup re-running cfn-init', async (t) => {
  const hook = file('/etc/cfn/hooks.d/skiff-broker.conf').content
  t.match(hook, /^path=Resources\.Instance\.Metadata\.AWS::CloudFormation::Init$/m)
  t.match(hook, /^action=\/opt\/aws\/bin\/cfn-init -v --stack skiff-test --resource Instance --region eu-west-1$/m)
  t.match(file('/etc/cfn/cfn-hup.conf').content, /^stack=arn:aws:cloudformation:/m)
  const env = file('/etc/skiff/deploy.env').content
  t.match(env, /^RELEASE_URL='s3:\/\/skiff-releases\/skiffmq\/skiffmq-0\.1\.0\.tgz'$/m)
  t.match(env, /^RELEASE_SHA256='7e662aca[0-9a-f]{56}'$/m)
  t.match(env, /^NODE_MAJOR=24$/m)
  t.match(env, /^AUTH_PARAMETER=\/skiffmq\/users\.json$/m)
})

t.test('the skiff user has the same uid and gid on EC2 and in the image, so data moves between them', async (t) => {
  const ids = (text: string) => ({ uid: /useradd[^\n]*--uid (\d+)/.exec(text)?.[1], gid: /groupadd[^\n]*--gid (\d+)/.exec(text)?.[1] })
  const image = loadDockerfile().stages.at(-1)!.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n')
  const boot = userData(tpl).replace(/\\\n\s*/g, ' ')
  t.same(ids(boot), { uid: '10001', gid: '10001' })
  t.same(ids(image), ids(boot))
})
