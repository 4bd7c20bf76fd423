// Prints every failed assertion of a TAP log with the test file and subtests it
// sits in, and its diagnostics. `.ci/run` calls it when `npm test` fails: CI
// shows only the tail of a run's output, and a failure in the middle of 13,000
// assertions is otherwise out of sight.
//
//   node .ci/failures.mjs test.log
import fs from 'node:fs'

const MAX_DIAG_LINES = 40
const lines = fs.readFileSync(process.argv[2] ?? 0, 'utf8').split('\n')
const stack = [] // subtest names by depth (4 spaces of TAP indentation each)
const out = []

for (let i = 0; i < lines.length; i++) {
  const line = lines[i]
  const subtest = /^( *)# Subtest: (.*)$/.exec(line)
  if (subtest) {
    const depth = subtest[1].length / 4
    stack.length = depth
    stack[depth] = subtest[2]
    continue
  }
  const notOk = /^( *)not ok \d+ - (.*)$/.exec(line)
  if (!notOk) continue
  const depth = notOk[1].length / 4
  out.push(`not ok: ${[...stack.slice(0, depth), notOk[2]].join(' > ')}`)
  // The YAML diagnostics that follow: `---` to `...`, one level deeper.
  if (lines[i + 1]?.trim() === '---') {
    const indent = notOk[1].length + 2
    let n = 0
    for (i += 2; i < lines.length && lines[i].trim() !== '...'; i++) {
      if (n++ < MAX_DIAG_LINES) out.push(`    ${lines[i].slice(indent)}`)
    }
    if (n > MAX_DIAG_LINES) out.push(`    (${n - MAX_DIAG_LINES} more lines)`)
  }
}

console.log(out.length > 0 ? `Failed assertions, innermost last:\n${out.join('\n')}` : 'No failed assertion in the log: look at how the run ended.')
