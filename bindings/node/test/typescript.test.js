'use strict'
// The package's entry points: the TypeScript types compile under `tsc --strict` (test/typed.ts,
// test/typed-esm.mts, reaching index.d.ts and the generated native.d.ts), and the ESM entry
// point exports what the CommonJS one does.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

test('the typed examples compile with tsc --strict', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], { encoding: 'utf8', timeout: 120000 })
  assert.equal(r.status, 0, r.stdout + r.stderr)
})

test('ESM and CommonJS entry points export the same API', async () => {
  const esm = await import('krafty')
  const cjs = require('krafty')
  for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], name)
  assert.equal(typeof esm.Kafka, 'function')
  assert.equal(typeof esm.default.DevBroker, 'function')
  assert.match(cjs.version(), /^\d+\.\d+\.\d+/)
})
