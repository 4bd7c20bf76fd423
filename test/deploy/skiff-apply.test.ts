/**
 * skiff-apply, the script the stack runs on the instance at first boot and on
 * every update, run here for real: the files cfn-init writes, and the script,
 * taken from the template with their instance paths moved into a temp
 * directory. What only exists on the instance has a stand-in on PATH:
 * rpm/dnf/alternatives (Node.js is already here), chown (no skiff group),
 * aws (SSM parameter and S3 object served from files), systemctl (starts the
 * unit's ExecStart as a background process, on loopback and a free port).
 * Real: the download (curl over HTTPS from a local server with a test CA),
 * the sha256 check, npm installing the packed tarball, the broker it
 * installed, the /readyz wait, the release switch.
 */
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { haveOpenssl, makePki } from '../security/certificates.js'
import { initFiles, loadTemplate, resolveSub, SAMPLE_VALUES, type JsonObject } from './cfn-template.js'
import { repoRoot } from './dockerfile.js'
import { freePort } from '../../bench/lib/free-port.mjs'

const TOKEN = 'app-token-0123456789abcdef'
const USERS = JSON.stringify({ users: [{ name: 'app', token: TOKEN, publish: ['>'], subscribe: ['>'] }] })

const skip = !fs.existsSync(path.join(repoRoot, 'dist/cli/skiff.js'))
  ? 'dist/ is missing: run npm run build first'
  : !haveOpenssl()
    ? 'openssl is not installed (it makes the test CA for the HTTPS download)'
    : undefined

const STUBS: Record<string, string> = {
  rpm: 'exit 0',
  dnf: 'echo "dnf is not expected here: $*" >&2; exit 1',
  alternatives: 'exit 0',
  chown: 'exit 0',
  // npm-<major> from the nodejs<major>-npm package: this machine's npm.
  'npm-24': 'exec npm "$@"',
  aws: `echo "aws $*" >>"$STUB_STATE/aws.log"
case "$1 $2" in
  "ssm get-parameter") cat "$STUB_STATE/ssm-users.json" ;;
  "s3 cp") src=\${*: -2:1}; dest=\${*: -1}; cp "$STUB_STATE/s3/\${src#s3://}" "$dest" ;;
  *) echo "aws stand-in: unexpected $*" >&2; exit 1 ;;
esac`,
  systemctl: `echo "systemctl $*" >>"$STUB_STATE/systemctl.log"
pidfile=$STUB_STATE/broker.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
stop() {
  if running; then
    kill -TERM "$(cat "$pidfile")"
    for _ in $(seq 1 100); do running || break; sleep 0.1; done
  fi
}
case "$1" in
  daemon-reload | enable) ;;
  is-active) running ;;
  reload) kill -HUP "$(cat "$pidfile")" ;;
  restart)
    stop
    # The unit's ExecStart, then loopback and free ports for a test.
    exec_start=$(sed -n 's/^ExecStart=//p' "$STUB_UNIT")
    # shellcheck disable=SC2086
    $exec_start --host 127.0.0.1 --port 0 --http-host 127.0.0.1 --http-port "$STUB_HTTP_PORT" \\
      --data-dir "$STUB_STATE/data" --workers 1 </dev/null >>"$STUB_STATE/broker.log" 2>&1 &
    echo $! >"$pidfile"
    ;;
  *) echo "systemctl stand-in: unexpected $*" >&2; exit 1 ;;
esac`,
}

interface Machine {
  dir: string
  root: string
  state: string
  httpPort: number
  /** Writes deploy.env for this release and runs skiff-apply. */
  apply(release: { url: string; sha256: string }): Promise<{ status: number | null; stderr: string }>
  current(): string
  brokerPid(): number
}

async function machine(t: Test, env: NodeJS.ProcessEnv): Promise<Machine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-apply-'))
  const state = path.join(dir, 'state')
  const bin = path.join(dir, 'bin')
  for (const d of [state, bin, path.join(state, 's3')]) fs.mkdirSync(d, { recursive: true })
  t.teardown(() => {
    const pidfile = path.join(state, 'broker.pid')
    if (fs.existsSync(pidfile)) {
      try {
        process.kill(Number(fs.readFileSync(pidfile, 'utf8')), 'SIGKILL')
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })
  for (const [name, body] of Object.entries(STUBS)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\nset -euo pipefail\n${body}\n`, { mode: 0o755 })
  fs.writeFileSync(path.join(state, 'ssm-users.json'), USERS)

  const npmCache = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim()
  const moves: [string, string][] = [
    ['/etc/skiff', path.join(dir, 'etc/skiff')],
    ['/etc/systemd/system', path.join(dir, 'etc/systemd/system')],
    ['/opt/skiffmq', path.join(dir, 'opt/skiffmq')],
    ['/var/lib/skiff', path.join(dir, 'var/lib/skiff')],
    // This machine's npm cache, so the dependencies need no network when cached.
    ['/var/cache/skiff-npm', npmCache],
    ['export HOME=/root', `export HOME=${os.homedir()}`],
  ]
  const moved = (text: string) => moves.reduce((s, [from, to]) => s.split(from).join(to), text)
  const httpPort = await freePort()
  const tpl = loadTemplate()
  const files = new Map(initFiles(tpl).map((f) => [f.path, moved(f.content)]))
  for (const p of ['/etc/skiff/skiff.json', '/etc/systemd/system/skiff-broker.service', '/usr/local/sbin/skiff-apply']) {
    const target = p === '/usr/local/sbin/skiff-apply' ? path.join(dir, 'skiff-apply') : moved(p)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.writeFileSync(target, files.get(p)!, { mode: 0o755 })
  }
  const script = files.get('/usr/local/sbin/skiff-apply')!
  // Every instance path the script names has been moved: anything left would
  // touch this machine's /etc, /opt or /var.
  t.same(script.match(/(^|[\s"'=])\/(etc|opt|var)\/[^\s"']*/gm) ?? [], [], 'skiff-apply names no instance path left unmoved')

  const deployEnv = (tpl.Resources.Instance!.Metadata!['AWS::CloudFormation::Init'] as JsonObject).config as JsonObject
  const envSub = (((deployEnv.files as JsonObject)['/etc/skiff/deploy.env'] as JsonObject).content as JsonObject)['Fn::Sub'] as string
  const root = path.join(dir, 'opt/skiffmq')

  return {
    dir,
    root,
    state,
    httpPort,
    async apply(release) {
      const text = resolveSub(envSub, { ...SAMPLE_VALUES, ReleaseUrl: release.url, ReleaseSha256: release.sha256 }).replace(/^HTTP_PORT=9600$/m, `HTTP_PORT=${httpPort}`)
      fs.writeFileSync(moved('/etc/skiff/deploy.env'), text)
      const child = spawn('bash', [path.join(dir, 'skiff-apply')], {
        env: {
          ...process.env,
          ...env,
          PATH: `${bin}:${process.env.PATH}`,
          STUB_STATE: state,
          STUB_UNIT: moved('/etc/systemd/system/skiff-broker.service'),
          STUB_HTTP_PORT: String(httpPort),
          npm_config_prefer_offline: 'true',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr!.on('data', (d) => (stderr += d))
      const status = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      return { status, stderr }
    },
    current: () => fs.readlinkSync(path.join(root, 'current')),
    brokerPid: () => Number(fs.readFileSync(path.join(state, 'broker.pid'), 'utf8')),
  }
}

/** The TCP port of the broker's latest `listening` log line. */
function brokerPort(m: Machine): number {
  const lines = fs.readFileSync(path.join(m.state, 'broker.log'), 'utf8').split('\n')
  const listening = lines.flatMap((l) => {
    try {
      const o = JSON.parse(l) as { msg?: string; port?: number }
      return o.msg === 'listening' ? [o.port!] : []
    } catch {
      return []
    }
  })
  return listening.at(-1)!
}

t.test('skiff-apply installs a release tarball from HTTPS and S3, checks its digest, keeps what runs on a mismatch', { skip, timeout: 300_000 }, async (t) => {
  const pkgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-pack-'))
  t.teardown(() => fs.rmSync(pkgDir, { recursive: true, force: true }))
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', pkgDir], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(pack.status, 0, pack.stderr)
  const name = (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename
  const tarball = fs.readFileSync(path.join(pkgDir, name))
  const digest = crypto.createHash('sha256').update(tarball).digest('hex')
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version

  // The HTTPS host: the first request fails (503), as a flaky network would.
  const pki = makePki(fs.mkdtempSync(path.join(pkgDir, 'pki-')))
  const requests: string[] = []
  const server = https.createServer({ cert: fs.readFileSync(pki.server.cert), key: fs.readFileSync(pki.server.key) }, (req, res) => {
    requests.push(req.url!)
    if (requests.length === 1) res.writeHead(503).end()
    else if (req.url === `/releases/${name}`) res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball)
    else res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const httpsUrl = `https://localhost:${(server.address() as net.AddressInfo).port}/releases/${name}`

  const m = await machine(t, { CURL_CA_BUNDLE: pki.ca })

  // First boot: HTTPS with the right digest.
  const first = await m.apply({ url: httpsUrl, sha256: digest })
  t.equal(first.status, 0, first.stderr)
  t.match(first.stderr, /download 1 of 5 of https:\/\/localhost:\d+\/releases\/skiffmq-.*\.tgz failed/, 'a failed download is retried')
  t.match(first.stderr, new RegExp(`skiffmq ${version.replace(/\./g, '\\.')} is ready`))
  t.same(requests, [`/releases/${name}`, `/releases/${name}`])
  const firstRelease = m.current()
  t.match(path.basename(firstRelease), new RegExp(`^${name.replace(/\./g, '\\.')}-[0-9a-f]{12}$`), 'a directory named after the tarball')
  t.equal(fs.readFileSync(path.join(firstRelease, 'release.txt'), 'utf8'), `url=${httpsUrl}\nsha256=${digest}\n`)
  t.ok(fs.existsSync(path.join(firstRelease, 'node_modules/.bin/skiff')), 'the unit ExecStart binary exists')
  t.notOk(fs.existsSync(path.join(firstRelease, 'node_modules/typescript')), 'production dependencies only')
  t.equal(fs.readFileSync(path.join(m.dir, 'etc/skiff/users.json'), 'utf8'), USERS, 'the auth file from SSM')
  const ready = await fetch(`http://127.0.0.1:${m.httpPort}/readyz`)
  t.equal(ready.status, 200, 'the installed broker answers /readyz')

  // The installed broker works, with the auth file skiff-apply wrote.
  const { connect } = (await import(path.join(repoRoot, 'dist/clients/index.js'))) as typeof import('../../clients/index.js')
  const url = `skiff://127.0.0.1:${brokerPort(m)}`
  const client = await connect(url, { user: 'app', token: TOKEN })
  const sent = await client.producer().publish('deploy.check', { release: name })
  t.type(sent.offset, 'number', 'a publish is confirmed')
  await client.close()
  await t.rejects(connect(url, { user: 'app', token: 'wrong-token-0123456789' }), /UNAUTHORIZED|token/i, 'a wrong token is refused')

  // A re-run with the same release (a token rotation) downloads nothing and reloads.
  const pid = m.brokerPid()
  const again = await m.apply({ url: httpsUrl, sha256: digest })
  t.equal(again.status, 0, again.stderr)
  t.equal(requests.length, 2, 'no download')
  t.match(again.stderr, /reloading the auth file/)
  t.equal(m.brokerPid(), pid, 'the broker kept running')

  // A digest that does not match: refused before installing; nothing changes.
  const wrong = 'f'.repeat(64)
  const refused = await m.apply({ url: httpsUrl, sha256: wrong })
  t.equal(refused.status, 1)
  t.match(refused.stderr, `has sha256 ${digest}, not the expected ${wrong}: not installed`)
  t.equal(m.current(), firstRelease, 'current still names the running release')
  t.same(fs.readdirSync(path.join(m.root, 'releases')), [path.basename(firstRelease)], 'no release directory, no staging left behind')
  t.equal(m.brokerPid(), pid, 'the broker was not touched')

  // An upgrade to a release in S3 (no digest given): aws s3 cp, a new directory, a restart.
  fs.mkdirSync(path.join(m.state, 's3/skiff-releases/releases'), { recursive: true })
  fs.writeFileSync(path.join(m.state, `s3/skiff-releases/releases/${name}`), tarball)
  const s3Url = `s3://skiff-releases/releases/${name}`
  const upgrade = await m.apply({ url: s3Url, sha256: '' })
  t.equal(upgrade.status, 0, upgrade.stderr)
  t.match(fs.readFileSync(path.join(m.state, 'aws.log'), 'utf8'), new RegExp(`^aws s3 cp --only-show-errors --region eu-west-1 ${s3Url.replace(/\./g, '\\.')} \\S+$`, 'm'))
  t.not(m.current(), firstRelease, 'current names the new release')
  t.equal(fs.readFileSync(path.join(m.current(), 'release.txt'), 'utf8'), `url=${s3Url}\nsha256=${digest}\n`, 'the digest is recorded even when none was asked for')
  t.not(m.brokerPid(), pid, 'the broker was restarted on the new release')
  t.equal((await fetch(`http://127.0.0.1:${m.httpPort}/readyz`)).status, 200)
})
