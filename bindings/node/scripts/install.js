'use strict'
// `npm install` of the package: use the addon when it is there and loads (a packed tarball
// ships it), else build it from the Rust sources beside this file (a checkout:
// `npm install ./bindings/node`), with @napi-rs/cli, fetched from npm when the install did
// not bring the devDependencies. Needs Rust (cargo) on the PATH to build.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))

function loads () {
  if (!fs.existsSync(path.join(root, 'native.js'))) return false
  try {
    require(path.join(root, 'native.js'))
    return true
  } catch (_) {
    return false
  }
}

function run (cmd, args) {
  console.error(`krafty: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (process.env.KRAFTY_SKIP_BUILD === '1' || loads()) process.exit(0)
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  console.error('krafty: no prebuilt addon for this platform and no Rust sources to build one from')
  process.exit(1)
}
let cli
try {
  cli = require.resolve('@napi-rs/cli/package.json', { paths: [root] })
} catch (_) {
  const version = pkg.devDependencies['@napi-rs/cli']
  run('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `@napi-rs/cli@${version}`])
  cli = require.resolve('@napi-rs/cli/package.json', { paths: [root] })
}
const bin = path.join(path.dirname(cli), require(cli).bin.napi)
const profile = process.env.KRAFTY_DEBUG_BUILD === '1' ? [] : ['--release', '--strip']
run(process.execPath, [bin, 'build', '--platform', ...profile, '--js', 'native.js', '--dts', 'native.d.ts'])
