/**
 * cloudformation/skiff-broker.yaml through cfn-lint, AWS's own template
 * linter (resource schemas, intrinsic functions, IAM policy shapes): no error
 * and no warning. Skipped, saying so, where cfn-lint is not installed; the
 * checks in cfn-spec.test.ts run everywhere.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { templatePath } from './cfn-template.js'
import { CFN_LINT, missing, run } from './tools.js'

const lint = (file: string) => run('cfn-lint', ['--format', 'parseable', '--', file], { timeoutMs: 120_000 })

t.test('cfn-lint finds nothing', { skip: missing(CFN_LINT) }, async (t) => {
  const r = lint(templatePath)
  t.equal(r.stdout + r.stderr, '', 'no findings')
  t.equal(r.status, 0)
})

t.test('cfn-lint is live: a wrong action name and a misspelt property are reported', { skip: missing(CFN_LINT) }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-cfn-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const broken = fs
    .readFileSync(templatePath, 'utf8')
    .replace('Action: s3:GetObject', 'Action: s3:GetObjects')
    .replace('      Encrypted: true\n      Tags', '      Encrypt: true\n      Tags')
  const file = path.join(dir, 'broken.yaml')
  fs.writeFileSync(file, broken)
  const r = lint(file)
  t.not(r.status, 0)
  t.match(r.stdout, /W3037:'getobjects' is not one of/)
  t.match(r.stdout, /Encrypt\b/)
})
