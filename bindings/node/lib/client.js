'use strict'
// The Krafty API (as in Rust and Python): KafkaProducer, KafkaConsumer, AdminClient, DevBroker.
// Each method converts its arguments, calls the addon (which runs the work on the core's
// runtime) and turns addon errors into KraftyError. Behaviour lives in the Rust core.

const { AsyncLocalStorage } = require('node:async_hooks')
const native = require('../native.js')
const { call, sync, KraftyError } = require('./errors.js')

// null and undefined both mean "no bytes" (napi reads an absent field as None).
function data (v, what) {
  if (v === null || v === undefined) return undefined
  if (Buffer.isBuffer(v) || typeof v === 'string') return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  throw new TypeError(`${what} must be a Buffer, a string or null`)
}

/** Headers as `[{ key, value }]`, from that or from kafkajs's `{ key: value | value[] }`. */
function headers (h) {
  if (h === null || h === undefined) return undefined
  if (Array.isArray(h)) return h.map(x => ({ key: String(x.key), value: data(x.value, 'a header value') }))
  const out = []
  for (const [k, v] of Object.entries(h)) {
    for (const one of Array.isArray(v) ? v : [v]) out.push({ key: k, value: data(one, 'a header value') })
  }
  return out
}

function num (v, what) {
  if (v === null || v === undefined) return undefined
  const n = typeof v === 'bigint' ? Number(v) : Number(v)
  if (!Number.isFinite(n)) throw new TypeError(`${what} must be a number`)
  return n
}

function record (r) {
  if (!r || typeof r.topic !== 'string') throw new TypeError('a record needs a topic')
  return {
    topic: r.topic,
    key: data(r.key, 'key'),
    value: data(r.value, 'value'),
    headers: headers(r.headers),
    partition: num(r.partition, 'partition'),
    timestamp: num(r.timestamp, 'timestamp')
  }
}

// sendBatch's records packed for the addon (src/producer.rs, ProducerBatch): keys, values and
// headers in one Buffer, their places in two Float64Arrays. The addon reads a batch with a
// few N-API calls where record objects cost a dozen per record.
const BATCH_FIELDS = 8

function byteLength (d) {
  return typeof d === 'string' ? Buffer.byteLength(d) : d.length
}

function pack (records) {
  if (!Array.isArray(records)) throw new TypeError('records must be an array')
  const n = records.length
  const fields = new Float64Array(n * BATCH_FIELDS)
  const topics = []
  const topicIndex = new Map()
  const parts = []
  const hfields = []
  let size = 0
  let lastTopic
  let lastIndex = -1
  const place = (d, at, arr) => {
    if (d === undefined) {
      arr[at] = 0
      arr[at + 1] = -1
      return
    }
    const len = byteLength(d)
    arr[at] = size
    arr[at + 1] = len
    size += len
    parts.push(d)
  }
  for (let i = 0, j = 0; i < n; i++, j += BATCH_FIELDS) {
    const r = records[i]
    if (!r || typeof r.topic !== 'string') throw new TypeError('a record needs a topic')
    if (r.topic !== lastTopic) {
      lastTopic = r.topic
      lastIndex = topicIndex.get(lastTopic)
      if (lastIndex === undefined) {
        lastIndex = topics.push(lastTopic) - 1
        topicIndex.set(lastTopic, lastIndex)
      }
    }
    fields[j] = lastIndex
    const partition = num(r.partition, 'partition')
    fields[j + 1] = partition === undefined ? NaN : partition
    const timestamp = num(r.timestamp, 'timestamp')
    fields[j + 2] = timestamp === undefined ? NaN : timestamp
    place(data(r.key, 'key'), j + 3, fields)
    place(data(r.value, 'value'), j + 5, fields)
    const hs = headers(r.headers)
    fields[j + 7] = hs === undefined ? 0 : hs.length
    if (hs !== undefined) {
      for (const h of hs) {
        const at = hfields.length
        hfields.push(0, 0, 0, 0)
        place(h.key, at, hfields)
        place(h.value, at + 2, hfields)
      }
    }
  }
  const buf = Buffer.allocUnsafe(size)
  let off = 0
  for (const d of parts) {
    if (typeof d === 'string') off += buf.write(d, off)
    else {
      buf.set(d, off)
      off += d.length
    }
  }
  return { data: buf, topics, records: fields, headers: new Float64Array(hfields) }
}

// sendBatch's answer (three numbers per record: partition, offset, timestamp) as
// RecordMetadata objects, the topics from the packed batch.
function metadata ({ topics, records: f }, m) {
  const out = new Array(m.length / 3)
  for (let i = 0, j = 0; j < m.length; i++, j += 3) {
    out[i] = { topic: topics[f[i * BATCH_FIELDS]], partition: m[j], offset: m[j + 1], timestamp: m[j + 2] }
  }
  return out
}

function configOf (config) {
  if (config === null || typeof config !== 'object') throw new TypeError('config must be an object of Kafka properties')
  const out = {}
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined || v === null) continue
    if (Array.isArray(v)) out[k] = v.join(',')
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v
    else throw new TypeError(`config property ${k}: a string, number or boolean`)
  }
  return out
}

// The records of a native RecordBatch (src/consumer.rs): keys, values and header values are
// views of its one Buffer.
const RECORD_FIELDS = 11
function records ({ data, topics, records: f, headers: h }) {
  const out = new Array(f.length / RECORD_FIELDS)
  let hi = 0
  for (let i = 0, j = 0; j < f.length; i++, j += RECORD_FIELDS) {
    const count = f[j + 10]
    const headers = new Array(count)
    for (let k = 0; k < count; k++, hi += 4) {
      headers[k] = {
        key: data.toString('utf8', h[hi], h[hi] + h[hi + 1]),
        value: h[hi + 3] < 0 ? null : data.subarray(h[hi + 2], h[hi + 2] + h[hi + 3])
      }
    }
    out[i] = {
      topic: topics[f[j]],
      partition: f[j + 1],
      offset: f[j + 2],
      timestamp: f[j + 3],
      timestampType: f[j + 4] === 1 ? 'LogAppendTime' : 'CreateTime',
      key: f[j + 6] < 0 ? null : data.subarray(f[j + 5], f[j + 5] + f[j + 6]),
      value: f[j + 8] < 0 ? null : data.subarray(f[j + 7], f[j + 7] + f[j + 8]),
      headers,
      leaderEpoch: f[j + 9] < 0 ? undefined : f[j + 9]
    }
  }
  return out
}

function tp (p) {
  return { topic: String(p.topic), partition: Number(p.partition) }
}

function tpo (p) {
  return {
    topic: String(p.topic),
    partition: Number(p.partition),
    offset: num(p.offset, 'offset'),
    metadata: p.metadata ?? undefined
  }
}

class KafkaProducer {
  /** @param config Kafka producer properties (`bootstrap.servers`, `acks`, `linger.ms`, ...). */
  constructor (config) {
    this._native = sync(() => new native.KafkaProducer(configOf(config)))
  }

  connect () { return call(() => this._native.connect()) }

  /** Resolves with `{ topic, partition, offset, timestamp }` once the broker acknowledged it. */
  send (r) { return call(() => this._native.send(record(r))) }

  /** Sends records in order; resolves with their metadata, in the same order. */
  sendBatch (records) {
    return call(async () => {
      const batch = pack(records)
      return metadata(batch, await this._native.sendBatch(batch))
    })
  }

  flush () { return call(() => this._native.flush()) }

  partitionsFor (topic) { return call(() => this._native.partitionsFor(topic)) }

  /** Transactions (`transactional.id`): fences an older instance with the same id. */
  initTransactions () { return call(() => this._native.initTransactions()) }

  beginTransaction () { return call(() => this._native.beginTransaction()) }

  /** Commits `offsets` ([{ topic, partition, offset }], the next to read) with the transaction. */
  sendOffsetsToTransaction (offsets, groupMetadata) {
    return call(() => this._native.sendOffsetsToTransaction(offsets, groupMetadata))
  }

  commitTransaction () { return call(() => this._native.commitTransaction()) }

  abortTransaction () { return call(() => this._native.abortTransaction()) }

  close (timeoutMs) { return call(() => this._native.close(timeoutMs)) }
}

const scope = new AsyncLocalStorage()

class KafkaConsumer {
  /** @param config Kafka consumer properties (`bootstrap.servers`, `group.id`, ...). */
  constructor (config) {
    this._native = sync(() => new native.KafkaConsumer(configOf(config)))
    this._closed = false
  }

  connect () { return call(() => this._native.connect()) }

  /**
   * Subscribes to `topics`. `listener` has `onPartitionsRevoked(partitions)`,
   * `onPartitionsAssigned(partitions)` and optionally `onPartitionsLost(partitions)` (default:
   * revoked); each may be async. The rebalance waits for it: a `commit()` or `seek()` on this
   * consumer inside it is made before the rebalance goes on, and `position()` answers from
   * the rebalance's positions. Other calls on this consumer would wait for the rebalance that
   * waits for the listener: do not await them there (other clients work as usual).
   */
  subscribe (topics, listener) {
    if (typeof topics === 'string') topics = [topics]
    const fn = listener ? event => this._runListener(listener, event) : undefined
    return call(() => this._native.subscribe(topics, fn))
  }

  async _runListener (listener, event) {
    const s = { consumer: this, positions: event.positions, commits: [], seeks: [] }
    const partitions = event.partitions
    let method
    if (event.kind === 'revoked') method = listener.onPartitionsRevoked
    else if (event.kind === 'assigned') method = listener.onPartitionsAssigned
    else method = listener.onPartitionsLost ?? listener.onPartitionsRevoked
    if (typeof method === 'function') {
      try {
        await scope.run(s, () => method.call(listener, partitions, this))
      } catch (e) {
        process.emitWarning(`krafty: rebalance listener (${event.kind}) threw: ${e && e.stack ? e.stack : e}`)
      }
    }
    return { commits: s.commits, seeks: s.seeks }
  }

  _scope () {
    const s = scope.getStore()
    return s && s.consumer === this ? s : undefined
  }

  assign (partitions) { return call(() => this._native.assign(partitions.map(tp))) }

  unsubscribe () { return call(() => this._native.unsubscribe()) }

  assignment () { return call(() => this._native.assignment()) }

  subscription () { return call(() => this._native.subscription()) }

  /** The records fetched since the last call, waiting up to `timeoutMs` for some. */
  async poll (timeoutMs = 1000, maxRecords) {
    return records(await call(() => this._native.poll(timeoutMs, maxRecords)))
  }

  /** Records one at a time, until the consumer is closed. */
  async * [Symbol.asyncIterator] () {
    while (!this._closed) {
      let records
      try {
        records = await this.poll(500)
      } catch (e) {
        if (this._closed && (e.type === 'CLIENT_CLOSED' || e.type === 'WAKEUP')) return
        throw e
      }
      for (const r of records) yield r
    }
  }

  /**
   * Commits `offsets` (`[{ topic, partition, offset }]`, offset = the next to read) or the
   * positions of every assigned partition. Inside a rebalance listener the commit is made
   * before the rebalance goes on.
   */
  commit (offsets) {
    const s = this._scope()
    if (s) {
      if (offsets) s.commits.push(...offsets.map(tpo))
      else {
        const at = new Map(s.positions.map(p => [`${p.topic}\0${p.partition}`, p]))
        for (const k of s.seeks) at.set(`${k.topic}\0${k.partition}`, k)
        s.commits.push(...[...at.values()].map(p => ({ topic: p.topic, partition: p.partition, offset: p.offset })))
      }
      return Promise.resolve()
    }
    return call(() => this._native.commit(offsets ? offsets.map(tpo) : undefined))
  }

  /** Same as `commit` (a promise either way; named as in the Java client). */
  commitSync (offsets) { return this.commit(offsets) }

  committed (partitions) { return call(() => this._native.committed(partitions.map(tp))) }

  /**
   * The next offset the consumer returns for an assigned partition. Inside a rebalance listener:
   * the position as the rebalance found it (or as seek() moved it there).
   */
  position (partition) {
    const s = this._scope()
    if (s) {
      const same = p => p.topic === partition.topic && p.partition === partition.partition
      const at = [...s.seeks].reverse().find(same) ?? s.positions.find(same)
      if (at) return Promise.resolve(at.offset)
    }
    return call(() => this._native.position(tp(partition)))
  }

  /** Moves the position of an assigned partition: `seek({ topic, partition }, offset)`. */
  seek (partition, offset) {
    const o = num(offset ?? partition.offset, 'offset')
    const s = this._scope()
    if (s) {
      s.seeks.push({ topic: partition.topic, partition: partition.partition, offset: o })
      return Promise.resolve()
    }
    return call(() => this._native.seek(tp(partition), o))
  }

  seekToBeginning (partitions) { return call(() => this._native.seekToBeginning(partitions.map(tp))) }

  seekToEnd (partitions) { return call(() => this._native.seekToEnd(partitions.map(tp))) }

  pause (partitions) { return call(() => this._native.pause(partitions.map(tp))) }

  resume (partitions) { return call(() => this._native.resume(partitions.map(tp))) }

  paused () { return call(() => this._native.paused()) }

  beginningOffsets (partitions) { return call(() => this._native.beginningOffsets(partitions.map(tp))) }

  endOffsets (partitions) { return call(() => this._native.endOffsets(partitions.map(tp))) }

  groupMetadata () { return call(() => this._native.groupMetadata()) }

  /** Interrupts a pending poll (it rejects with type WAKEUP). */
  wakeup () { this._native.wakeup() }

  /** Leaves the group (auto-committing when enabled) and closes; async iteration ends. */
  async close () {
    this._closed = true
    await call(() => this._native.close())
  }
}

class AdminClient {
  constructor (config) {
    this._native = sync(() => new native.AdminClient(configOf(config)))
  }

  connect () { return call(() => this._native.connect()) }
  createTopics (topics) { return call(() => this._native.createTopics(topics)) }
  deleteTopics (topics) { return call(() => this._native.deleteTopics(topics)) }
  listTopics () { return call(() => this._native.listTopics()) }
  describeTopics (topics) { return call(() => this._native.describeTopics(topics)) }
  createPartitions (topic, total) { return call(() => this._native.createPartitions(topic, total)) }
  listOffsets (partitions, spec) { return call(() => this._native.listOffsets(partitions.map(tp), spec)) }
  listGroups () { return call(() => this._native.listGroups()) }
  describeGroup (groupId) { return call(() => this._native.describeGroup(groupId)) }
  listGroupOffsets (groupId) { return call(() => this._native.listGroupOffsets(groupId)) }
  alterGroupOffsets (groupId, offsets) { return call(() => this._native.alterGroupOffsets(groupId, offsets.map(tpo))) }
  deleteGroups (groupIds) { return call(() => this._native.deleteGroups(groupIds)) }
  close () { return call(() => this._native.close()) }
}

class DevBroker {
  constructor (n) {
    if (!(n instanceof native.DevBroker)) throw new TypeError('use DevBroker.start()')
    this._native = n
  }

  /**
   * Starts the bundled dev broker in this process: `{ port, dataDir, config, listeners }`
   * (port 0 or absent: any free port; no dataDir: in memory).
   */
  static async start (options = {}) {
    const o = { ...options }
    if (o.config) o.config = configOf(o.config)
    const n = await call(() => native.DevBroker.start(o))
    return new DevBroker(n)
  }

  /** `host:port` for `bootstrap.servers`. */
  get bootstrap () { return this._native.bootstrap }
  get port () { return this._native.port }
  listenerBootstrap (name) { return sync(() => this._native.listenerBootstrap(name)) }
  tlsCaPem () { return sync(() => this._native.tlsCaPem()) }
  /** The next `count` requests of API `apiKey` fail with Kafka error `errorCode`. */
  failNext (apiKey, errorCode, count = 1, topic, partition) {
    return sync(() => this._native.failNext(apiKey, errorCode, count, topic, partition))
  }

  addLatency (apiKey, millis) { return sync(() => this._native.addLatency(apiKey, millis)) }
  dropConnectionAfter (requests) { return sync(() => this._native.dropConnectionAfter(requests)) }
  clearFaults () { return sync(() => this._native.clearFaults()) }
  errorsFired () { return sync(() => this._native.errorsFired()) }
  errorsPending () { return sync(() => this._native.errorsPending()) }
  connectionsDropped () { return sync(() => this._native.connectionsDropped()) }
  /** Stops the broker, flushing its logs (idempotent). */
  stop () { return call(() => this._native.stop()) }
}

/** Kafka's API keys, for DevBroker.failNext and addLatency. */
const ApiKeys = Object.freeze({
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22
})

module.exports = {
  KafkaProducer,
  KafkaConsumer,
  AdminClient,
  DevBroker,
  ApiKeys,
  KraftyError,
  murmur2Partition: (key, n) => native.murmur2Partition(Buffer.from(key), n),
  version: native.version,
  _internal: { configOf, record, headers, data }
}
