/**
 * The names a verified client certificate speaks for, in the order they are
 * tried against the auth file's user names.
 *
 * Decision: only the fields the operator lists in `tlsUserFields` may name a
 * user (a comma list of cn, dns, email, uri; default `cn`), tried in the
 * order listed, every value of a field before the next field. Before, any
 * DNS, email or URI subjectAltName equal to a user name logged in as that
 * user, so a CA that issues e.g. email certificates to people could, without
 * meaning to, hand out a login to a service account whose name looks like an
 * address. IP addresses can never name a user: an address is where a client
 * is, not who it is.
 *
 * Only a certificate the TLS layer verified against `--tls-ca` is read; an
 * unverified one names nobody.
 */
import type { TLSSocket } from 'node:tls'

export const CERT_FIELDS = ['cn', 'dns', 'email', 'uri'] as const
export type CertField = (typeof CERT_FIELDS)[number]

/** subjectAltName prefixes as Node writes them, per field. */
const ALT_NAME_TYPE: Record<Exclude<CertField, 'cn'>, string> = { dns: 'DNS', email: 'email', uri: 'URI' }

/** Why `value` is not a usable tlsUserFields list, or undefined. */
export function certFieldsProblem(value: string): string | undefined {
  const fields = value.split(',').map((f) => f.trim().toLowerCase())
  if (fields.every((f) => f === '')) return `tlsUserFields must list at least one of ${CERT_FIELDS.join(', ')}`
  const unknown = fields.filter((f) => !(CERT_FIELDS as readonly string[]).includes(f))
  if (unknown.length > 0) {
    return `tlsUserFields: unknown certificate field${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => JSON.stringify(f)).join(', ')}; use a comma list of ${CERT_FIELDS.join(', ')} (e.g. "cn,dns")`
  }
  return undefined
}

/** "cn, email" -> ['cn', 'email']; unknown names are left out (the config check refuses them first). */
export function parseCertFields(value: string): CertField[] {
  const out: CertField[] = []
  for (const f of value.split(',')) {
    const field = f.trim().toLowerCase() as CertField
    if ((CERT_FIELDS as readonly string[]).includes(field) && !out.includes(field)) out.push(field)
  }
  return out
}

export function certificateNames(socket: unknown, fields: readonly CertField[]): string[] {
  const s = socket as Partial<TLSSocket>
  if (typeof s.getPeerCertificate !== 'function' || s.authorized !== true) return []
  const cert = s.getPeerCertificate(false)
  if (!cert || Object.keys(cert).length === 0) return []
  const altNames = splitAltNames(cert.subjectaltname ?? '')
  const names: string[] = []
  for (const field of fields) {
    if (field === 'cn') {
      const cn = cert.subject?.CN as string | string[] | undefined
      for (const n of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(n)
      continue
    }
    const prefix = ALT_NAME_TYPE[field] + ':'
    for (const part of altNames) if (part.startsWith(prefix) && part.length > prefix.length) names.push(part.slice(prefix.length))
  }
  return names
}

/** "DNS:a, email:b" -> ["DNS:a", "email:b"]; Node quotes entries holding a comma as JSON strings. */
function splitAltNames(value: string): string[] {
  const out: string[] = []
  const re = /\s*([A-Za-z ]+:)("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g
  for (let m = re.exec(value); m && m[0] !== ''; m = re.exec(value)) {
    let v = m[2]!
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string
      } catch {
        continue
      }
    }
    out.push(m[1]! + v)
  }
  return out
}
