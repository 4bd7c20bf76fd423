/**
 * The Dockerfile without a Docker engine: its shape (multi-stage, non-root,
 * health-checked, tini at PID 1, 0.0.0.0, ports, volume), the build context
 * its .dockerignore lets through, and the runtime stage carried out for real
 * in a temp directory: the same files copied, the same production install,
 * the same command started, /readyz and the health check script asked, and
 * SIGTERM answered with a clean exit.
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import t from 'tap'
import { copies, dockerignore, loadDockerfile, repoRoot, stageEnv, type Stage } from './dockerfile.js'
import { HEAP_FLAG } from '../../broker/heap-settings.js'

const { args, stages } = loadDockerfile()
const build = stages[0]!
const runtime = stages[stages.length - 1]!
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op)
const one = (s: Stage, op: string) => {
  const found = ops(s, op)
  if (found.length !== 1) throw new Error(`expected one ${op} in stage ${s.name}, found ${found.length}`)
  return found[0]!
}
const healthcheckScript = path.join(repoRoot, 'deploy/healthcheck.mjs')

t.test('multi-stage: build with dev dependencies, run with production ones only', async (t) => {
  t.same(stages.map((s) => s.name), ['build', 'runtime'])
  t.equal(runtime.base, build.base, 'the runtime starts from the clean base image, not from the build stage')
  t.match(build.base, /^node:\$\{NODE_VERSION\}-bookworm-slim$/)
  t.match(args.find((a) => a.op === 'ARG')?.args ?? '', /^NODE_VERSION=\d+$/)
  const buildRuns = ops(build, 'RUN').map((r) => r.args)
  t.ok(buildRuns.some((r) => /^npm install .*--ignore-scripts/.test(r) && !r.includes('--omit')), 'build installs dev dependencies')
  t.ok(buildRuns.some((r) => /^npx tsc -p tsconfig\.json$/.test(r)), 'build compiles')
  const runtimeInstall = ops(runtime, 'RUN').filter((r) => r.args.includes('npm install'))
  t.equal(runtimeInstall.length, 1)
  t.match(runtimeInstall[0]!.args, /--omit=dev/)
  t.match(runtimeInstall[0]!.args, /--ignore-scripts/, 'no prepare/tsc in the runtime stage')
  t.same(copies(runtime).filter((c) => c.from === 'build'), [
    { from: 'build', sources: ['/src/package.json', '/src/package-lock.json'], dest: './' },
    { from: 'build', sources: ['/src/dist'], dest: './dist' },
  ])
})

t.test('runs as a non-root user, after every root step', async (t) => {
  const user = one(runtime, 'USER')
  t.notMatch(user.args, /^(root|0)(:|$)/)
  t.equal(user.args, 'skiff:skiff')
  const lastRoot = runtime.instructions.map((i) => i.op).lastIndexOf('RUN')
  t.ok(runtime.instructions.indexOf(user) > lastRoot, 'USER comes after the last RUN')
  t.match(ops(runtime, 'RUN')[0]!.args, /useradd --system --uid 10001/)
})

t.test('ports, volume, 0.0.0.0, health check, tini at PID 1', async (t) => {
  t.same(one(runtime, 'EXPOSE').args.split(' ').sort(), ['7600/tcp', '7600/udp', '9600/tcp'])
  t.same(one(runtime, 'VOLUME').exec, ['/data'])
  const env = stageEnv(runtime)
  t.equal(env.SKIFF_HOST, '0.0.0.0', 'binds every interface explicitly')
  t.equal(env.SKIFF_DATA_DIR, '/data')
  t.equal(env.SKIFF_HTTP_PORT, '9600')
  t.equal(env.SKIFF_HTTP_HOST, '0.0.0.0', 'HTTP beyond the container loopback, for -p 9600 and a Prometheus elsewhere')
  t.match(one(runtime, 'HEALTHCHECK').args, /CMD \["node", "\/app\/healthcheck\.mjs"\]$/)
  t.ok(copies(runtime).some((c) => c.sources.includes('deploy/healthcheck.mjs') && c.dest === './healthcheck.mjs'), 'the health check script is in the image')
  // node gets the broker's heap flag on its command line, the only way to its main thread (broker/heap-settings.ts).
  t.same(one(runtime, 'ENTRYPOINT').exec, ['/usr/bin/tini', '--', 'node', HEAP_FLAG, '/app/dist/cli/skiff.js'])
  t.same(one(runtime, 'CMD').exec, ['broker'])
  t.match(ops(runtime, 'RUN')[0]!.args, /apt-get install -y --no-install-recommends tini/)
  t.equal(one(runtime, 'WORKDIR').args, '/app')
})

t.test('.dockerignore sends the sources the build copies and nothing else', async (t) => {
  const sent = dockerignore(fs.readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'))
  const contextSources = stages.flatMap((s) => copies(s).filter((c) => !c.from).flatMap((c) => c.sources))
  t.ok(contextSources.length >= 6)
  for (const src of contextSources) {
    t.ok(sent(src), `${src} reaches the builder`)
    if (fs.statSync(path.join(repoRoot, src)).isDirectory()) {
      const ts = fs.readdirSync(path.join(repoRoot, src), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'))
      t.ok(ts.length > 0 && ts.every((f) => sent(`${src}/${f}`)), `every .ts file under ${src} reaches the builder`)
    }
  }
  for (const kept of ['node_modules/yargs/index.mjs', 'dist/cli/skiff.js', '.git/config', 'data/topics/x', 'test/deploy/docker-image.test.ts', 'cloudformation/skiff-broker.yaml', '.env', 'protocol/vectors/ack.json']) {
    t.notOk(sent(kept), `${kept} stays out`)
  }
})

/** Carries out the runtime stage's COPY and npm install in `app`, as the builder would in /app. */
function installLikeTheRuntimeStage(app: string): void {
  for (const c of copies(runtime)) {
    for (const src of c.sources) {
      // --from=build paths are under the build stage's WORKDIR /src: the repo here.
      const from = path.join(repoRoot, c.from ? path.relative('/src', src) : src)
      const to = c.dest.endsWith('/') ? path.join(app, path.basename(src)) : path.join(app, c.dest)
      fs.cpSync(from, to, { recursive: true })
    }
  }
  const run = ops(runtime, 'RUN').find((r) => r.args.includes('npm install'))!
  // The command up to the first `&&`: the cache cleanup after it would empty
  // this machine's npm cache. --prefer-offline uses that cache when it can.
  const command = run.args.split('&&')[0]!.trim().split(' ')
  const r = spawnSync('npm', [...command.slice(1), '--prefer-offline'], { cwd: app, encoding: 'utf8', timeout: 150_000, env: { ...process.env, NODE_ENV: 'production' } })
  if (r.status !== 0) throw new Error(`${run.args} failed (${r.status ?? r.signal}): ${r.stderr}`)
}

function healthcheck(app: string, httpPort: number): number | null {
  return spawnSync(process.execPath, [path.join(app, 'healthcheck.mjs')], { env: { ...process.env, SKIFF_HTTP_PORT: String(httpPort) }, timeout: 15_000 }).status
}

t.test('the runtime stage, carried out: production install, start, ready, health check, SIGTERM', { timeout: 220_000 }, async (t) => {
  if (!fs.existsSync(path.join(repoRoot, 'dist/cli/skiff.js'))) {
    t.fail('dist/ is missing: run npm run build first')
    return
  }
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-image-'))
  t.teardown(() => fs.rmSync(app, { recursive: true, force: true }))
  installLikeTheRuntimeStage(app)

  t.ok(fs.existsSync(path.join(app, 'node_modules/yargs')), 'production dependencies installed')
  for (const dev of ['typescript', 'tap', 'fast-check', '@aws-cdk/aws-service-spec']) {
    t.notOk(fs.existsSync(path.join(app, 'node_modules', dev)), `no ${dev} in the image`)
  }

  // The entrypoint without tini, with the image's environment; loopback and
  // free ports instead of 0.0.0.0 and fixed ones, so the test opens nothing.
  const entry = one(runtime, 'ENTRYPOINT').exec!.slice(2).map((a) => a.replace(/^\/app\//, `${app}/`))
  const env = { ...process.env, ...stageEnv(runtime), SKIFF_HOST: '127.0.0.1', SKIFF_PORT: '0', SKIFF_DATA_DIR: path.join(app, 'data'), SKIFF_WORKERS: '1' }
  const child = spawn(process.execPath, [...entry.slice(1), ...one(runtime, 'CMD').exec!], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))

  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 30 s: ${stderr}`)), 30_000)
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const obj = JSON.parse(line) as Record<string, unknown>
        if (obj.msg === 'listening') {
          clearTimeout(timer)
          resolve(obj)
        }
      } catch {
        // not a JSON log line
      }
    })
    void exited.then((code) => reject(new Error(`the broker exited with ${code} before listening: ${stderr}`)))
  })
  t.type(listening.port, 'number', 'logs listening with its port')
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  t.equal(listening.version, pkg.version, 'and the version from the package.json beside dist/')
  const httpPort = listening.httpPort as number
  t.type(httpPort, 'number', 'and its HTTP port')

  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(10_000) })
  t.equal(ready.status, 200, '/readyz answers 200 once listening')
  t.equal(healthcheck(app, httpPort), 0, 'the HEALTHCHECK script passes')

  child.kill('SIGTERM')
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref())])
  t.equal(code, 0, 'SIGTERM: drains and exits 0')
  t.equal(healthcheck(app, httpPort), 1, 'the HEALTHCHECK script fails once the broker is gone')
})

t.test('the health check fails on 503 (starting or draining)', async (t) => {
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/readyz' ? 503 : 404
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const r = await new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, [healthcheckScript], { env: { ...process.env, SKIFF_HTTP_PORT: String(port) }, stdio: 'ignore' })
    c.once('exit', resolve)
  })
  t.equal(r, 1)
})
