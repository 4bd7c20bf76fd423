/**
 * Who may see the panel (`/`) and the JSON API (`/api/*`) on the HTTP port.
 *
 * Decisions written down here:
 * - Host header (DNS rebinding): a web page on an attacker's domain can make
 *   a browser on the operator's machine send requests to 127.0.0.1 under the
 *   attacker's name. The panel therefore answers only requests whose Host is
 *   an IP literal (v4, or v6 in brackets), `localhost`, a `*.localhost` name,
 *   or a name listed in httpAllowedHosts, with or without a port; anything
 *   else (a missing Host included) is 421 naming --http-allowed-hosts.
 * - The machine endpoints (/metrics, /healthz, /readyz) check neither Host nor
 *   login: scrapers and probes address brokers by arbitrary DNS names and
 *   carry no credentials, and those endpoints change nothing. They are kept
 *   private by the HTTP port's address (loopback unless --http-host says
 *   otherwise) and the network.
 * - Login: with an auth file, HTTP Basic (user name and token), checked by the
 *   broker's Authenticator with the same per-address limits as HELLO. The user
 *   is always named, so hashed tokens work (one scrypt, then remembered). The
 *   user needs `admin` or `monitor`. No credentials: 401 with
 *   `WWW-Authenticate: Basic realm="skiffmq"` so a browser prompts (not
 *   counted as a failed login: nothing was tried); wrong ones: 401 and counted;
 *   a valid user without admin or monitor: 403; over a login limit: 429. A user
 *   name holding ':' cannot log in here (Basic splits at the first ':').
 * - Without an auth file the panel needs no login: the broker then listens on
 *   loopback only unless --allow-anonymous was given, which opens everything.
 * - Actions (POST /api/actions/*) need the admin role; a monitor gets 403.
 *   Without an auth file whoever reaches the panel is admin ("anonymous"), as
 *   whoever reaches the protocol port may then create and delete topics.
 * - CSRF: a browser sends an operator's Basic credentials with any request
 *   to the panel's origin, a cross-site form's POST included. An action
 *   therefore needs (1) the header `X-Skiff-Panel: 1`, which a cross-site
 *   page cannot add without a CORS preflight that this server never answers
 *   (OPTIONS is 405), (2) a JSON body (a form cannot send one), and (3) when
 *   the browser names the requesting origin (Origin, or Sec-Fetch-Site), the
 *   panel's own origin: scheme http(s) and the same host and port as Host.
 */
import net from 'node:net'
import type http from 'node:http'
import { SkiffError } from '../../protocol/index.js'
import type { Authenticator } from '../auth/authenticator.js'

export interface HttpRefusal {
  status: number
  message: string
  headers?: Record<string, string>
}

const CHALLENGE = { 'www-authenticate': 'Basic realm="skiffmq", charset="UTF-8"' }

/** The names of httpAllowedHosts ("a.example, b.example"), lower case. */
export function allowedHostNames(value: string): Set<string> {
  return new Set(
    value
      .split(',')
      .map((h) => h.trim().toLowerCase().replace(/\.$/, ''))
      .filter((h) => h !== ''),
  )
}

/** Why an httpAllowedHosts entry cannot match a Host header, or undefined. */
export function allowedHostsProblem(value: string): string | undefined {
  for (const name of allowedHostNames(value)) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
      return `httpAllowedHosts: ${JSON.stringify(name)} is not a host name (give names only, such as broker.internal, without scheme or port)`
    }
  }
  return undefined
}

/** True when the Host header may reach the panel: an IP literal, localhost, *.localhost or an allowed name, with an optional port. */
export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (header === undefined) return false
  const host = header.trim().toLowerCase()
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(host)
  if (v6) return net.isIPv6(v6[1]!) && portOk(v6[2])
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(host)
  if (!m || !portOk(m[2])) return false
  const name = m[1]!.replace(/\.$/, '')
  return net.isIPv4(name) || name === 'localhost' || name.endsWith('.localhost') || allowed.has(name)
}

function portOk(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535)
}

/** `Authorization: Basic base64(user:token)` -> { user, token }, or undefined when absent or malformed. */
export function basicCredentials(header: string | undefined): { user: string; token: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header ?? '')
  if (!m) return undefined
  const text = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon <= 0) return undefined
  return { user: text.slice(0, colon), token: text.slice(colon + 1) }
}

/** Who is logged in to the panel: admin may act, monitor only looks. */
export interface PanelUser {
  user: string
  admin: boolean
}

export const CSRF_HEADER = 'x-skiff-panel'

/** Why a POST to an action may not be a same-origin request from the panel's page, or undefined. */
export function crossSiteRefusal(req: http.IncomingMessage): HttpRefusal | undefined {
  if (req.headers[CSRF_HEADER] !== '1') return { status: 403, message: `actions need the header X-Skiff-Panel: 1 (the panel's page sends it)\n` }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') return { status: 415, message: 'actions take a JSON body (content-type: application/json)\n' }
  const origin = req.headers.origin
  if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) {
    return { status: 403, message: `cross-origin action refused: Origin ${origin} is not this panel (${req.headers.host})\n` }
  }
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, message: `cross-site action refused (Sec-Fetch-Site: ${site})\n` }
  return undefined
}

export class HttpAccess {
  private readonly allowed: ReadonlySet<string>

  constructor(
    private readonly auth: Authenticator,
    allowedHosts: string,
  ) {
    this.allowed = allowedHostNames(allowedHosts)
  }

  /** Why this request may not see the panel or /api, or undefined when it may. */
  async refusal(req: http.IncomingMessage, signal: AbortSignal): Promise<HttpRefusal | undefined> {
    const found = await this.identify(req, signal)
    return 'refusal' in found ? found.refusal : undefined
  }

  /** Who this request is, when it may see the panel, or why it may not. */
  async identify(req: http.IncomingMessage, signal: AbortSignal): Promise<{ refusal: HttpRefusal } | { who: PanelUser }> {
    const refusal = await this.check(req, signal)
    return typeof refusal === 'object' && 'status' in refusal ? { refusal } : { who: refusal }
  }

  private async check(req: http.IncomingMessage, signal: AbortSignal): Promise<HttpRefusal | PanelUser> {
    if (!hostAllowed(req.headers.host, this.allowed)) {
      return {
        status: 421,
        message: `the panel answers only requests addressed to an IP address or localhost; to use the name ${JSON.stringify(req.headers.host ?? '')}, give the broker --http-allowed-hosts with it\n`,
      }
    }
    if (!this.auth.enabled) return { user: 'anonymous', admin: true }
    const credentials = basicCredentials(req.headers.authorization)
    if (!credentials) return { status: 401, message: 'log in with a user of the auth file that has admin or monitor, and its token\n', headers: CHALLENGE }
    try {
      const identity = await this.auth.authenticate(credentials.token, { user: credentials.user, ip: req.socket.remoteAddress, signal })
      if (this.auth.mayMonitor(identity)) return { user: identity.user, admin: identity.entry?.admin === true }
      return { status: 403, message: `user ${identity.user} may not see the panel: it needs "admin": true or "monitor": true in the auth file\n` }
    } catch (err) {
      if (!(err instanceof SkiffError)) throw err
      if (err.codeName === 'TOO_MANY_CONNECTIONS') {
        const retryAfterMs = Number(err.details?.retryAfterMs ?? 1000)
        return { status: 429, message: err.message + '\n', headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } }
      }
      return { status: 401, message: err.message + '\n', headers: CHALLENGE }
    }
  }
}
