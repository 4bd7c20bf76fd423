/**
 * Attacks on what a session may hold or try (issue items 1, 7 and 8): a storm
 * of logins with random tokens, requests hoarded on a self-served topic, and
 * the HTTP port's panel asked for without credentials or under a foreign Host.
 */
import crypto from 'node:crypto'
import http from 'node:http'
import { PROTOCOL_MODULE } from '../../lib/paths.mjs'
import { Peer, addCounts, sleep } from '../peer.mjs'

const { encodeServe, encodeRequest, encodeRecord, Op } = await import(PROTOCOL_MODULE)

/**
 * Item 1: `concurrency` logins at a time with random tokens, half of them
 * naming the tokenHash user (`ctx.hashedUser`), half naming nobody, from the
 * attacker's address; each connection is used once.
 */
export function loginStorm(ctx, { concurrency = 100 } = {}) {
  let running = true
  const stats = { attempts: 0, welcomed: 0, errors: new Map() }
  const one = async (i) => {
    const token = crypto.randomBytes(18).toString('base64url')
    let p
    try {
      p = await Peer.login(ctx.port, i % 2 ? { token, user: ctx.hashedUser } : { token }, undefined, 5000)
    } catch {
      return sleep(20)
    }
    stats.attempts++
    if (p.welcomed) stats.welcomed++
    addCounts(stats.errors, p.errors)
    p.end()
  }
  const done = Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      for (let i = k; running && i < 1_000_000; i += concurrency) await one(i)
    }),
  )
  return {
    async stop() {
      running = false
      await done
      return { attempts: stats.attempts, welcomed: stats.welcomed, errors: Object.fromEntries(stats.errors) }
    },
  }
}

/**
 * Item 7: one connection serves mallory.rpc and never answers; another sends
 * it up to 150,000 requests with a 10-minute timeout, 5,000 at a time.
 */
export function requestHoarding(ctx) {
  let running = true
  const stats = { requests: 0, errors: new Map() }
  const record = encodeRecord({ payload: Buffer.from('hoard') })
  const done = (async () => {
    const server = await Peer.login(ctx.port, ctx.creds.mallory)
    server.write(encodeServe(Op.SERVE, { corr: 1, topic: 'mallory.rpc' }))
    await server.until(() => server.frames > 1, 2000)
    const requester = await Peer.login(ctx.port, ctx.creds.mallory)
    for (let i = 0; running && !requester.closed && stats.requests < 150_000; i++) {
      const frames = []
      for (let k = 0; k < 5000; k++) frames.push(encodeRequest({ corr: ++stats.requests, topic: 'mallory.rpc', record, timeoutMs: 600_000 }))
      requester.write(Buffer.concat(frames))
      await sleep(250)
    }
    await requester.until(() => !running, 600_000)
    addCounts(stats.errors, requester.errors)
    requester.end()
    server.end()
  })()
  return {
    async stop() {
      running = false
      await done
      return { requests: stats.requests, errors: Object.fromEntries(stats.errors) }
    },
  }
}

function get(port, path, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, localAddress: '127.0.0.2', timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve('error'))
  })
}

/**
 * Item 8: the panel's data without credentials, under a foreign Host header
 * (DNS rebinding), and with a wrong password, 20 times a second each.
 */
export function httpOpen(ctx) {
  let running = true
  const statuses = new Map()
  const count = (k) => statuses.set(k, (statuses.get(k) ?? 0) + 1)
  const wrong = 'Basic ' + Buffer.from(`${ctx.hashedUser}:not-the-token-0123456789`).toString('base64')
  const done = (async () => {
    for (let i = 0; running && i < 100_000; i++) {
      const [plain, rebound, guessed] = await Promise.all([
        get(ctx.httpPort, '/api/overview'),
        get(ctx.httpPort, '/api/overview', { host: 'attacker.example:9600' }),
        get(ctx.httpPort, '/', { authorization: wrong }),
      ])
      count(`no login: ${plain}`)
      count(`foreign Host: ${rebound}`)
      count(`wrong token: ${guessed}`)
      await sleep(50)
    }
  })()
  return {
    async stop() {
      running = false
      await done
      return { statuses: Object.fromEntries(statuses) }
    },
  }
}
