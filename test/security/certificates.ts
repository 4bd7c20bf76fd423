/**
 * Test certificates made with the openssl command in a temp dir (never
 * committed): a CA, a server certificate for localhost/127.0.0.1, client
 * certificates signed by the CA, and one signed by a stranger CA.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

function key(dir: string, name: string): string {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`])
  return path.join(dir, `${name}.key`)
}

function ca(dir: string, name: string): { cert: string; key: string } {
  const k = key(dir, name)
  openssl(dir, ['req', '-x509', '-new', '-key', k, '-days', '2', '-subj', `/CN=${name}`, '-out', `${name}.crt`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { cert: path.join(dir, `${name}.crt`), key: k }
}

function signed(dir: string, name: string, issuer: { cert: string; key: string }, cn: string, ext: string[]): { cert: string; key: string } {
  const k = key(dir, name)
  openssl(dir, ['req', '-new', '-key', k, '-subj', `/CN=${cn}`, '-out', `${name}.csr`])
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n')
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`])
  return { cert: path.join(dir, `${name}.crt`), key: k }
}

export interface TestPki {
  ca: string
  server: { cert: string; key: string }
  /** CN=reporter */
  reporter: { cert: string; key: string }
  /** CN=not-a-user, subjectAltName DNS:svc.example.com */
  service: { cert: string; key: string }
  /** CN=not-a-user, subjectAltName email:ops@example.com */
  mailbox: { cert: string; key: string }
  /** CN=not-a-user, subjectAltName URI:spiffe://example.com/ops */
  workload: { cert: string; key: string }
  /** CN=stranger */
  stranger: { cert: string; key: string }
  /** CN=reporter, but signed by another CA */
  forged: { cert: string; key: string }
}

export function makePki(dir: string): TestPki {
  const root = ca(dir, 'test-ca')
  const other = ca(dir, 'other-ca')
  const client = ['basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth']
  return {
    ca: root.cert,
    server: signed(dir, 'server', root, 'localhost', ['basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1']),
    reporter: signed(dir, 'reporter', root, 'reporter', client),
    service: signed(dir, 'service', root, 'not-a-user', [...client, 'subjectAltName=DNS:svc.example.com']),
    mailbox: signed(dir, 'mailbox', root, 'not-a-user', [...client, 'subjectAltName=email:ops@example.com']),
    workload: signed(dir, 'workload', root, 'not-a-user', [...client, 'subjectAltName=URI:spiffe://example.com/ops']),
    stranger: signed(dir, 'stranger', root, 'stranger', client),
    forged: signed(dir, 'forged', other, 'reporter', client),
  }
}
