/**
 * scripts/release.sh on a copy of the sources (it empties and rebuilds dist/,
 * which other tests run from): the tarball it prints, its sha256, what the
 * tarball holds; then the install a user does with it, `npm install -g
 * --prefix <dir> ./skiffmq-<version>.tgz`, and the installed `skiff broker`
 * and client library working together over TCP.
 */
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import t from 'tap'
import { repoRoot } from './dockerfile.js'
import { missing, run, SHELLCHECK } from './tools.js'

const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version
/** What the build and npm pack read (package.json "files", the tsconfig*.json the build script names, their include). */
const SOURCES = ['package.json', 'package-lock.json', ...fs.readdirSync(repoRoot).filter((f) => /^tsconfig.*\.json$/.test(f)), 'README.md', 'protocol', 'broker', 'clients', 'cli', 'bench', 'scripts']
/** npm's codes for a registry it cannot reach. */
const OFFLINE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|ENOTCACHED)\b/

t.test('scripts/release.sh passes shellcheck', { skip: missing(SHELLCHECK) }, async (t) => {
  const r = run('shellcheck', ['--norc', '--severity=style', '--format=gcc', path.join(repoRoot, 'scripts/release.sh')])
  t.equal(r.status, 0, r.stdout + r.stderr)
})

t.test('release.sh: a clean build packed into skiffmq-<version>.tgz, its sha256 printed; the tarball installs and runs', { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-release-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const checkout = path.join(dir, 'checkout')
  for (const s of SOURCES) fs.cpSync(path.join(repoRoot, s), path.join(checkout, s), { recursive: true })
  fs.symlinkSync(fs.realpathSync(path.join(repoRoot, 'node_modules')), path.join(checkout, 'node_modules'))
  // Left by an "earlier build" of a source that no longer exists.
  fs.mkdirSync(path.join(checkout, 'dist/broker'), { recursive: true })
  fs.writeFileSync(path.join(checkout, 'dist/broker/removed-module.js'), 'export {}\n')

  const script = path.join(checkout, 'scripts/release.sh')
  const refused = spawnSync(script, [path.join(checkout, 'dist/out')], { encoding: 'utf8' })
  t.equal(refused.status, 2, 'an output directory inside dist/ is refused')
  t.match(refused.stderr, /inside dist\/, which the build empties/)

  const out = path.join(dir, 'out')
  const r = spawnSync(script, [out], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 0, r.stderr)
  const tarball = path.join(out, `skiffmq-${version}.tgz`)
  const digest = crypto.createHash('sha256').update(fs.readFileSync(tarball)).digest('hex')
  t.equal(r.stdout, `tarball ${tarball}\nsha256 ${digest}\n`, 'stdout: the path and the sha256, nothing else')
  t.equal(fs.readFileSync(`${tarball}.sha256`, 'utf8'), `${digest}  skiffmq-${version}.tgz\n`)
  const check = spawnSync('sha256sum', ['-c', `skiffmq-${version}.tgz.sha256`], { cwd: out, encoding: 'utf8' })
  t.equal(check.status, 0, `sha256sum -c accepts the .sha256 file: ${check.stdout}${check.stderr}`)

  const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.trim().split('\n')
  for (const f of ['package/package.json', 'package/dist/cli/skiff.js', 'package/dist/broker/worker/main.js', 'package/dist/clients/index.js', 'package/dist/clients/index.d.ts', 'package/protocol/PROTOCOL.md']) {
    t.ok(files.includes(f), `holds ${f}`)
  }
  t.notOk(files.includes('package/dist/broker/removed-module.js'), 'built clean: nothing left from an earlier build')
  t.same(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')), [], 'no TypeScript sources')
  t.same(files.filter((f) => /^package\/(test|node_modules|\.git)\//.test(f)), [], 'no tests, dependencies or git data')

  // The user's install, into a prefix of its own.
  const prefix = path.join(dir, 'prefix')
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, `./skiffmq-${version}.tgz`, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: out, encoding: 'utf8', timeout: 120_000 })
  if (install.status !== 0 && OFFLINE.test(install.stderr)) {
    t.skip(`npm cannot fetch skiffmq's dependencies (offline, nothing cached): ${OFFLINE.exec(install.stderr)![1]}`)
    return
  }
  t.equal(install.status, 0, install.stderr)
  const skiff = path.join(prefix, 'bin/skiff')
  t.ok(fs.existsSync(skiff), 'bin/skiff is installed')

  const data = path.join(dir, 'data')
  const broker = spawn(skiff, ['broker', '--port', '0', '--data-dir', data, '--workers', '1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => broker.once('exit', resolve))
  t.teardown(() => {
    broker.kill('SIGKILL')
  })
  let stderr = ''
  broker.stderr!.on('data', (d) => (stderr += d))
  const listening = await new Promise<{ port: number; httpPort: number; version: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 30 s: ${stderr}`)), 30_000)
    readline.createInterface({ input: broker.stdout! }).on('line', (line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; port: number; httpPort: number; version: string }
        if (o.msg === 'listening') {
          clearTimeout(timer)
          resolve(o)
        }
      } catch {
        // not a log line
      }
    })
    void exited.then((code) => reject(new Error(`skiff broker exited with ${code}: ${stderr}`)))
  })
  t.equal(listening.version, version, 'the installed broker reports the packed version')
  t.equal((await fetch(`http://127.0.0.1:${listening.httpPort}/readyz`)).status, 200, '/readyz')

  // The installed client library, not this checkout's.
  const lib = path.join(prefix, 'lib/node_modules/skiffmq/dist/clients/index.js')
  const { connect } = (await import(lib)) as typeof import('../../clients/index.js')
  const client = await connect(`skiff://127.0.0.1:${listening.port}`)
  await client.producer().publish('release.check', { tarball: path.basename(tarball) })
  const consumer = await client.subscribe('release.check', { group: 'check', from: 'earliest' })
  for await (const msg of consumer) {
    t.same(msg.decode(), { tarball: path.basename(tarball) }, 'published and consumed through the installed package')
    msg.ack()
    break
  }
  await client.close()

  broker.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: a clean exit')
})
