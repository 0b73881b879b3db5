'use strict'
// KraftyError: what a rejected promise (or a throwing constructor) carries. The addon's
// errors arrive as a plain Error whose message is `KRAFTY_ERROR{json}` (src/errors.rs).

const PREFIX = 'KRAFTY_ERROR'

class KraftyError extends Error {
  constructor (message, fields = {}) {
    super(message)
    this.name = 'KraftyError'
    /** Kafka's numeric error code, or a negative local one (-1 network, -2 config, ...). */
    this.code = fields.code ?? -10
    /** Kafka's error name, e.g. "UNKNOWN_TOPIC_OR_PARTITION", or a local one. */
    this.type = fields.type ?? 'UNKNOWN_CLIENT_ERROR'
    /** Whether retrying the same operation may succeed. */
    this.retriable = fields.retriable ?? false
    this.fatal = fields.fatal ?? false
    this.topic = fields.topic ?? undefined
    this.partition = fields.partition ?? undefined
    /** For INVALID_CONFIG: the property, by Kafka's name. */
    this.property = fields.property ?? undefined
    if (fields.cause !== undefined) this.cause = fields.cause
  }
}

/** The KraftyError for an addon error; any other error is returned as it is. */
function toKraftyError (e) {
  if (e instanceof KraftyError) return e
  const msg = e && typeof e.message === 'string' ? e.message : ''
  const at = msg.indexOf(PREFIX)
  if (at < 0) return e
  let fields
  try {
    fields = JSON.parse(msg.slice(at + PREFIX.length))
  } catch (_) {
    return e
  }
  const err = new KraftyError(fields.message, fields)
  if (e.stack) err.stack = `KraftyError: ${fields.message}\n` + e.stack.split('\n').slice(1).join('\n')
  return err
}

/** Awaits a native promise, rejecting with a KraftyError. */
async function call (promiseOrFn) {
  try {
    const p = typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn
    return await p
  } catch (e) {
    throw toKraftyError(e)
  }
}

/** Runs a synchronous native call, throwing a KraftyError. */
function sync (fn) {
  try {
    return fn()
  } catch (e) {
    throw toKraftyError(e)
  }
}

module.exports = { KraftyError, toKraftyError, call, sync }
