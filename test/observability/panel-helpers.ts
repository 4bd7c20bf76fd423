/**
 * Helpers for the panel tests: an auth file with an admin and a monitor, and
 * HTTP requests to the panel with exactly the headers a test chooses.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

export const ADMIN = { user: 'ops', token: 'ops-admin-token-0123456789' }
export const MONITOR = { user: 'watch', token: 'watch-monitor-token-0123456789' }
export const APP = { user: 'app', token: 'app-client-token-0123456789' }

/** An auth file with an admin (ops), a monitor (watch) and a client (app, publish and subscribe everywhere). */
export function writePanelAuthFile(dir: string): string {
  const file = path.join(dir, 'users.json')
  fs.writeFileSync(
    file,
    JSON.stringify({
      users: [
        { name: ADMIN.user, token: ADMIN.token, admin: true },
        { name: MONITOR.user, token: MONITOR.token, monitor: true },
        { name: APP.user, token: APP.token, publish: ['>'], subscribe: ['>'] },
      ],
    }),
  )
  return file
}

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  json<T = Record<string, unknown>>(): T
}

export interface RequestOptions {
  login?: { user: string; token: string }
  method?: string
  body?: string
  headers?: Record<string, string>
}

export function request(port: number, urlPath: string, opts: RequestOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...opts.headers }
  if (opts.login) headers.authorization = 'Basic ' + Buffer.from(`${opts.login.user}:${opts.login.token}`).toString('base64')
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** A POST to an action as the panel's page sends it (CSRF header, JSON, same Origin), unless `headers` says otherwise. */
export function act(port: number, action: string, body: unknown, login: { user: string; token: string } | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  return request(port, `/api/actions/${action}`, {
    method: 'POST',
    login,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', 'x-skiff-panel': '1', origin: `http://127.0.0.1:${port}`, ...headers },
  })
}

export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms: number, everyMs = 100): Promise<T | undefined> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) return undefined
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
