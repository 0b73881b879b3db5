'use strict'
// A kafkajs-shaped API over the Krafty clients: `new Kafka({ clientId, brokers })`, its
// producer(), consumer() and admin(). Thin: each call maps kafkajs's arguments and results
// onto KafkaProducer / KafkaConsumer / AdminClient (lib/client.js). Offsets are strings, as in
// kafkajs.

const { EventEmitter } = require('node:events')
const { KafkaProducer, KafkaConsumer, AdminClient } = require('./client.js')
const { KraftyError } = require('./errors.js')

const CompressionTypes = Object.freeze({ None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 })
const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

function baseConfig (kafka) {
  const c = { 'bootstrap.servers': kafka.brokers.join(',') }
  if (kafka.clientId) c['client.id'] = kafka.clientId
  if (kafka.requestTimeout) c['request.timeout.ms'] = kafka.requestTimeout
  if (kafka.sasl) {
    c['security.protocol'] = kafka.ssl ? 'SASL_SSL' : 'SASL_PLAINTEXT'
    c['sasl.mechanism'] = String(kafka.sasl.mechanism).toUpperCase()
    c['sasl.username'] = kafka.sasl.username
    c['sasl.password'] = kafka.sasl.password
  } else if (kafka.ssl) {
    c['security.protocol'] = 'SSL'
  }
  return c
}

class Kafka {
  /** `{ clientId, brokers: ['host:port'], ssl, sasl: { mechanism, username, password }, requestTimeout }` */
  constructor (config = {}) {
    if (!Array.isArray(config.brokers) || config.brokers.length === 0) {
      throw new KraftyError('brokers: a non-empty array of "host:port"', { code: -2, type: 'INVALID_CONFIG', property: 'bootstrap.servers' })
    }
    this.brokers = config.brokers
    this.clientId = config.clientId
    this.ssl = config.ssl
    this.sasl = config.sasl
    this.requestTimeout = config.requestTimeout
  }

  producer (options = {}) { return new Producer(this, options) }
  consumer (options = {}) { return new Consumer(this, options) }
  admin () { return new Admin(this) }
}

class Producer {
  constructor (kafka, options) {
    this._base = baseConfig(kafka)
    this._transactionalId = options.transactionalId
    // kafkajs: a transactional producer is idempotent.
    this._idempotent = Boolean(options.idempotent || options.transactionalId)
    this._extra = {}
    if (options.transactionalId) {
      this._extra['transactional.id'] = options.transactionalId
      if (options.transactionTimeout) this._extra['transaction.timeout.ms'] = options.transactionTimeout
    }
    if (options.allowAutoTopicCreation === false) this._extra['allow.auto.create.topics'] = false
    this._producers = new Map()
    this._events = new EventEmitter()
    this.events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' }
  }

  on (event, listener) {
    this._events.on(event, listener)
    return () => this._events.off(event, listener)
  }

  // One Krafty producer per (acks, compression): kafkajs picks them per send, Kafka per client.
  // A transactional producer is one Krafty producer (a second with the same transactional.id
  // would fence the first): acks=all and the first send's compression.
  _producer (acks = -1, compression = 0) {
    if (this._transactionalId) {
      if (acks !== -1) throw new KraftyError('a transactional producer sends with acks=-1', { code: -2, type: 'INVALID_CONFIG', property: 'acks' })
      const only = this._producers.values().next().value
      if (only) return only
    }
    const key = `${acks}|${compression}`
    let p = this._producers.get(key)
    if (!p) {
      const cfg = { ...this._base, ...this._extra, acks: String(acks === -1 ? 'all' : acks), 'linger.ms': 0 }
      cfg['compression.type'] = COMPRESSION_NAMES[compression] ?? 'none'
      cfg['enable.idempotence'] = this._idempotent && acks === -1
      p = new KafkaProducer(cfg)
      this._producers.set(key, p)
    }
    return p
  }

  async connect () {
    await this._producer().connect()
    // As kafkajs: a transactional producer gets its producer id (and fences an older
    // instance with the same transactionalId) when it connects.
    if (this._transactionalId && !this._initialized) {
      await this._producer().initTransactions()
      this._initialized = true
    }
    this._events.emit(this.events.CONNECT, { type: this.events.CONNECT, timestamp: Date.now() })
  }

  /** `{ topic, messages: [{ key, value, headers, partition, timestamp }], acks, compression }` */
  send ({ topic, messages, acks, compression }) {
    return this.sendBatch({ topicMessages: [{ topic, messages }], acks, compression })
  }

  /** `{ topicMessages: [{ topic, messages }], acks, compression }` */
  async sendBatch ({ topicMessages, acks = -1, compression = 0 }) {
    const records = []
    for (const { topic, messages } of topicMessages) {
      for (const m of messages) {
        records.push({
          topic,
          key: m.key,
          value: m.value,
          headers: m.headers,
          partition: m.partition,
          timestamp: m.timestamp === undefined ? undefined : Number(m.timestamp)
        })
      }
    }
    const metas = await this._producer(Number(acks), Number(compression)).sendBatch(records)
    // kafkajs's answer: one entry per partition written, with its first offset.
    const byPartition = new Map()
    for (const m of metas) {
      const k = `${m.topic}\0${m.partition}`
      const seen = byPartition.get(k)
      if (!seen || m.offset < seen.offset) byPartition.set(k, m)
    }
    return [...byPartition.values()].map(m => ({
      topicName: m.topic,
      partition: m.partition,
      errorCode: 0,
      baseOffset: String(m.offset),
      logAppendTime: '-1',
      logStartOffset: '-1'
    }))
  }

  /**
   * kafkajs's transaction: `send`, `sendBatch`, `sendOffsets({ consumerGroupId, topics:
   * [{ topic, partitions: [{ partition, offset }] }] })` (the next offsets to read), then
   * `commit()` or `abort()`; `isActive()`.
   */
  async transaction () {
    if (!this._transactionalId) {
      throw new KraftyError('transaction() needs a producer created with a transactionalId', { code: -4, type: 'ILLEGAL_STATE' })
    }
    if (!this._initialized) await this.connect()
    const p = this._producer()
    await p.beginTransaction()
    let active = true
    const ending = (end) => async () => {
      await end()
      active = false
    }
    return {
      send: (record) => this.send(record),
      sendBatch: (batch) => this.sendBatch(batch),
      // kafkajs names the group only: no member or generation to check (before KIP-447).
      sendOffsets: ({ consumerGroupId, topics }) => p.sendOffsetsToTransaction(
        topics.flatMap(({ topic, partitions }) => partitions.map(({ partition, offset }) =>
          ({ topic, partition, offset: Number(offset) }))),
        { groupId: consumerGroupId, generationId: -1, memberId: '' }),
      commit: ending(() => p.commitTransaction()),
      abort: ending(() => p.abortTransaction()),
      isActive: () => active
    }
  }

  async disconnect () {
    const ps = [...this._producers.values()]
    this._producers.clear()
    await Promise.all(ps.map(p => p.close()))
    this._events.emit(this.events.DISCONNECT, { type: this.events.DISCONNECT, timestamp: Date.now() })
  }
}

const consumerEvents = Object.freeze({
  HEARTBEAT: 'consumer.heartbeat',
  COMMIT_OFFSETS: 'consumer.commit_offsets',
  GROUP_JOIN: 'consumer.group_join',
  FETCH: 'consumer.fetch',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  CONNECT: 'consumer.connect',
  DISCONNECT: 'consumer.disconnect',
  STOP: 'consumer.stop',
  CRASH: 'consumer.crash',
  REBALANCING: 'consumer.rebalancing'
})

const key = (topic, partition) => `${topic}\0${partition}`
// Kafka's error code: poll's error for a partition without a position under
// auto.offset.reset=none (see Consumer._native).
const OFFSET_OUT_OF_RANGE = 1

class Consumer {
  constructor (kafka, options) {
    if (!options.groupId) throw new KraftyError('consumer: groupId is required', { code: -2, type: 'INVALID_CONFIG', property: 'group.id' })
    this._groupId = options.groupId
    this._config = { ...baseConfig(kafka), 'group.id': options.groupId, 'enable.auto.commit': false }
    if (options.sessionTimeout) this._config['session.timeout.ms'] = options.sessionTimeout
    if (options.rebalanceTimeout) this._config['max.poll.interval.ms'] = options.rebalanceTimeout
    if (options.heartbeatInterval) this._config['heartbeat.interval.ms'] = options.heartbeatInterval
    if (options.maxWaitTimeInMs) this._config['fetch.max.wait.ms'] = options.maxWaitTimeInMs
    if (options.maxBytesPerPartition) this._config['max.partition.fetch.bytes'] = options.maxBytesPerPartition
    if (options.allowAutoTopicCreation === false) this._config['allow.auto.create.topics'] = false
    this._topics = []
    this._fromBeginning = new Map() // topic -> its last subscribe call's fromBeginning
    this._events = new EventEmitter()
    this.events = consumerEvents
    this._consumer = null
    this._running = false
    this._loop = null
    this._paused = new Set() // "topic\0partition", and "topic\0*" for whole topics
    this._seeks = new Map()
    // With auto.offset.reset=none (see _native): assigned partitions that may still await a
    // position. Emptied by a poll that succeeds (every assigned partition had one then).
    this._unpositioned = new Set() // "topic\0partition"
    this._resetting = null // the run loop's _resetPositions under way
  }

  on (event, listener) {
    this._events.on(event, listener)
    return () => this._events.off(event, listener)
  }

  _emit (type, payload) {
    this._events.emit(type, { id: 0, type, timestamp: Date.now(), payload })
  }

  async connect () {
    this._emit(this.events.CONNECT, {})
  }

  /** `{ topics: [name], fromBeginning }` (or `{ topic }`); before `run`. */
  async subscribe ({ topic, topics, fromBeginning = false }) {
    const list = topics ?? [topic]
    for (const t of list) {
      if (typeof t !== 'string') throw new KraftyError('subscribe: topics are names (patterns are not supported)', { code: -4, type: 'ILLEGAL_STATE' })
      if (!this._topics.includes(t)) this._topics.push(t)
      this._fromBeginning.set(t, Boolean(fromBeginning))
    }
  }

  // In kafkajs a partition with no committed offset (or whose offset fell out of the log)
  // starts at the beginning or the end by its topic's fromBeginning; Kafka's
  // `auto.offset.reset` is one per consumer. When every topic asks the same it is theirs.
  // Otherwise, and for a consumer made before run() (more subscribe calls may come), it is
  // `none`: the core positions each assigned partition from its committed offset when there
  // is one, and poll fails (returning no records) naming a partition that has none, or whose
  // fetch position is out of range, without fetching it. The run loop then positions that
  // partition, and the other assigned ones still without a committed offset, at their topic's
  // beginning or end (_resetPositions) and polls again. A committed offset always wins, and no
  // record is fetched from a position the topic did not ask for.
  _native (running = false) {
    if (!this._consumer) {
      const wanted = new Set(this._fromBeginning.values())
      let reset = 'none'
      if (running && wanted.size === 1) reset = wanted.has(true) ? 'earliest' : 'latest'
      this._consumer = new KafkaConsumer({ ...this._config, 'auto.offset.reset': reset })
    }
    return this._consumer
  }

  /**
   * Positions `named` (a partition poll failed on for having no position) and every partition
   * of _unpositioned without a committed offset at their topic's beginning or end, in one
   * OffsetFetch and up to two ListOffsets rather than a failed poll each. Only the run loop
   * polls, and it does not poll during this, so no partition gets a position meanwhile, and
   * none gets a committed offset (a commit needs a position); a seek() meanwhile waits for
   * this to finish, so it lands after it. Never rejects.
   */
  async _resetPositions (c, named) {
    const namedKey = key(named.topic, named.partition)
    const todo = new Map([[namedKey, named]])
    for (const k of this._unpositioned) {
      const [topic, partition] = k.split('\0')
      todo.set(k, { topic, partition: Number(partition) })
    }
    this._unpositioned.clear()
    const done = new Set()
    try {
      const others = [...todo].filter(([k]) => k !== namedKey).map(([, tp]) => tp)
      const committed = new Set((others.length ? await c.committed(others) : []).map(o => key(o.topic, o.partition)))
      // The named partition has none, or its position (maybe the committed one) is out of range.
      const begin = []
      const end = []
      for (const [k, tp] of todo) {
        if (k === namedKey || !committed.has(k)) (this._fromBeginning.get(tp.topic) ? begin : end).push(tp)
        else done.add(k)
      }
      for (const [tps, seek] of [[begin, ps => c.seekToBeginning(ps)], [end, ps => c.seekToEnd(ps)]]) {
        if (tps.length === 0) continue
        await seek(tps)
        for (const tp of tps) done.add(key(tp.topic, tp.partition))
      }
    } catch (e) {
      // The next poll names the named partition again (unless it is no longer assigned).
      for (const k of todo.keys()) if (k !== namedKey && !done.has(k)) this._unpositioned.add(k)
      this._emit(this.events.CRASH, { error: e, groupId: this._groupId, restart: true })
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** `{ eachMessage, eachBatch, autoCommit = true, eachBatchAutoResolve = true }` */
  async run ({ eachMessage, eachBatch, autoCommit = true, eachBatchAutoResolve = true } = {}) {
    if (this._running) throw new KraftyError('run: the consumer is already running', { code: -4, type: 'ILLEGAL_STATE' })
    if (!eachMessage && !eachBatch) throw new KraftyError('run: eachMessage or eachBatch is required', { code: -4, type: 'ILLEGAL_STATE' })
    const c = this._native(true)
    const started = Date.now()
    const listener = {
      onPartitionsRevoked: async (partitions) => {
        this._emit(this.events.REBALANCING, { groupId: this._groupId, memberId: '' })
        for (const p of partitions) this._unpositioned.delete(key(p.topic, p.partition))
        // Commit what was processed before the partitions go to another member.
        if (autoCommit) await this._commitResolved(partitions)
      },
      onPartitionsAssigned: async (partitions) => {
        for (const p of partitions) this._unpositioned.add(key(p.topic, p.partition))
        const assignment = {}
        for (const p of partitions) (assignment[p.topic] ??= []).push(p.partition)
        setImmediate(async () => {
          const meta = await c.groupMetadata().catch(() => null)
          this._emit(this.events.GROUP_JOIN, {
            groupId: this._groupId,
            memberId: meta ? meta.memberId : '',
            leaderId: '',
            isLeader: false,
            memberAssignment: assignment,
            groupProtocol: 'range',
            duration: Date.now() - started
          })
        })
      }
    }
    await c.subscribe(this._topics, listener)
    this._running = true
    this._resolved = new Map() // key -> { topic, partition, offset: next to read }
    this._loop = this._runLoop(c, { eachMessage, eachBatch, autoCommit, eachBatchAutoResolve })
  }

  async _commitResolved (only) {
    const want = only ? new Set(only.map(p => key(p.topic, p.partition))) : null
    const offsets = []
    for (const [k, o] of this._resolved) {
      if (!want || want.has(k)) {
        offsets.push(o)
        this._resolved.delete(k)
      }
    }
    if (offsets.length === 0) return
    await this._consumer.commit(offsets)
    this._emit(this.events.COMMIT_OFFSETS, {
      groupId: this._groupId,
      topics: offsets.map(o => ({ topic: o.topic, partitions: [{ partition: String(o.partition), offset: String(o.offset) }] }))
    })
  }

  _isPaused (topic, partition) {
    return this._paused.has(key(topic, partition)) || this._paused.has(key(topic, '*'))
  }

  async _runLoop (c, { eachMessage, eachBatch, autoCommit, eachBatchAutoResolve }) {
    while (this._running) {
      let records
      try {
        records = await c.poll(100)
      } catch (e) {
        if (!this._running) break
        if (e.code === OFFSET_OUT_OF_RANGE && e.topic !== undefined && e.partition !== undefined) {
          this._resetting = this._resetPositions(c, { topic: e.topic, partition: e.partition })
          await this._resetting
          this._resetting = null
          continue
        }
        this._emit(this.events.CRASH, { error: e, groupId: this._groupId, restart: Boolean(e.retriable) })
        if (!e.retriable) { this._running = false; break }
        await new Promise(resolve => setTimeout(resolve, 100))
        continue
      }
      this._unpositioned.clear()
      this._seeks.clear()
      // Batches per partition, in the order the records came.
      const batches = new Map()
      for (const r of records) {
        const k = key(r.topic, r.partition)
        let b = batches.get(k)
        if (!b) batches.set(k, (b = []))
        b.push(r)
      }
      for (const [k, recs] of batches) {
        if (!this._running) break
        const { topic, partition } = recs[0]
        const rewind = offset => c.seek({ topic, partition }, offset)
        if (this._isPaused(topic, partition)) { await rewind(recs[0].offset); continue }
        const messages = recs.map(toMessage)
        try {
          if (eachBatch) {
            let resolvedTo = null
            const batch = {
              topic,
              partition,
              highWatermark: '-1',
              messages,
              isEmpty: () => messages.length === 0,
              firstOffset: () => messages.length ? messages[0].offset : null,
              lastOffset: () => messages.length ? messages[messages.length - 1].offset : String(-1),
              offsetLag: () => '0',
              offsetLagLow: () => '0'
            }
            await eachBatch({
              batch,
              resolveOffset: (offset) => {
                resolvedTo = Number(offset)
                this._resolved.set(k, { topic, partition, offset: resolvedTo + 1 })
              },
              heartbeat: async () => {},
              pause: () => { this.pause([{ topic, partitions: [partition] }]); return () => this.resume([{ topic, partitions: [partition] }]) },
              commitOffsetsIfNecessary: async () => { if (autoCommit) await this._commitResolved() },
              uncommittedOffsets: () => ({ topics: [] }),
              isRunning: () => this._running,
              isStale: () => this._seeks.has(k)
            })
            if (eachBatchAutoResolve && messages.length) {
              this._resolved.set(k, { topic, partition, offset: Number(messages[messages.length - 1].offset) + 1 })
            } else if (resolvedTo !== null && resolvedTo < recs[recs.length - 1].offset && !this._seeks.has(k)) {
              await rewind(resolvedTo + 1)
            }
          } else {
            for (let i = 0; i < recs.length; i++) {
              if (!this._running || this._seeks.has(k)) break
              if (this._isPaused(topic, partition)) { await rewind(recs[i].offset); break }
              await eachMessage({
                topic,
                partition,
                message: messages[i],
                heartbeat: async () => {},
                pause: () => { this.pause([{ topic, partitions: [partition] }]); return () => this.resume([{ topic, partitions: [partition] }]) }
              })
              this._resolved.set(k, { topic, partition, offset: recs[i].offset + 1 })
            }
          }
        } catch (e) {
          // Redeliver from the first unprocessed record, as kafkajs does after a failed batch.
          const done = this._resolved.get(k)
          await rewind(done ? done.offset : recs[0].offset).catch(() => {})
          this._emit(this.events.CRASH, { error: e, groupId: this._groupId, restart: true })
          await new Promise(resolve => setTimeout(resolve, 100))
        }
      }
      if (autoCommit) {
        try {
          await this._commitResolved()
        } catch (e) {
          this._emit(this.events.CRASH, { error: e, groupId: this._groupId, restart: true })
        }
      }
    }
  }

  /** Commits `[{ topic, partition, offset }]` (offset: the next to read, a string). */
  async commitOffsets (offsets) {
    await this._native().commit(offsets.map(o => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) })))
  }

  /** `{ topic, partition, offset }`: the next record read from that partition. */
  async seek ({ topic, partition, offset }) {
    const k = key(topic, partition)
    this._seeks.set(k, Number(offset))
    this._resolved?.delete(k)
    if (this._resetting) await this._resetting
    this._unpositioned.delete(k)
    await this._native().seek({ topic, partition }, Number(offset))
  }

  _partitionsOf (topics) {
    return topics.flatMap(({ topic, partitions }) => (partitions ?? ['*']).map(p => ({ topic, partition: p })))
  }

  async _assigned (list) {
    const all = await this._native().assignment()
    return list.flatMap(({ topic, partition }) => partition === '*'
      ? all.filter(a => a.topic === topic)
      : [{ topic, partition }])
  }

  /** `[{ topic, partitions? }]`: stop fetching those partitions (all of the topic's when absent). */
  pause (topics) {
    const list = this._partitionsOf(topics)
    for (const p of list) this._paused.add(key(p.topic, p.partition))
    this._assigned(list).then(ps => ps.length && this._native().pause(ps)).catch(() => {})
  }

  resume (topics) {
    const list = this._partitionsOf(topics)
    for (const p of list) this._paused.delete(key(p.topic, p.partition))
    this._assigned(list).then(ps => ps.length && this._native().resume(ps)).catch(() => {})
  }

  paused () {
    const byTopic = new Map()
    for (const k of this._paused) {
      const [topic, p] = k.split('\0')
      if (!byTopic.has(topic)) byTopic.set(topic, [])
      if (p !== '*') byTopic.get(topic).push(Number(p))
    }
    return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
  }

  async stop () {
    this._running = false
    if (this._loop) await this._loop
    this._loop = null
    this._emit(this.events.STOP, {})
  }

  async disconnect () {
    await this.stop()
    if (this._consumer) {
      const c = this._consumer
      this._consumer = null
      await c.close()
    }
    this._emit(this.events.DISCONNECT, {})
  }
}

function toMessage (r) {
  const headers = {}
  for (const h of r.headers) {
    if (h.key in headers) headers[h.key] = [].concat(headers[h.key], h.value)
    else headers[h.key] = h.value
  }
  return {
    key: r.key,
    value: r.value,
    headers,
    timestamp: String(r.timestamp),
    attributes: 0,
    offset: String(r.offset),
    size: 0
  }
}

class Admin {
  constructor (kafka) {
    this._admin = new AdminClient(baseConfig(kafka))
  }

  connect () { return this._admin.connect() }
  disconnect () { return this._admin.close() }

  /** Resolves true when every topic was created, false when some already existed. */
  async createTopics ({ topics }) {
    let created = true
    for (const t of topics) {
      const configs = {}
      for (const e of t.configEntries ?? []) configs[e.name] = String(e.value)
      try {
        await this._admin.createTopics([{ topic: t.topic, numPartitions: t.numPartitions ?? -1, replicationFactor: t.replicationFactor ?? -1, configs }])
      } catch (e) {
        if (e.type === 'TOPIC_ALREADY_EXISTS') created = false
        else throw e
      }
    }
    return created
  }

  deleteTopics ({ topics }) { return this._admin.deleteTopics(topics) }

  listTopics () { return this._admin.listTopics() }

  async fetchTopicMetadata ({ topics } = {}) {
    const names = topics ?? await this._admin.listTopics()
    const meta = await this._admin.describeTopics(names)
    for (const t of meta) {
      if (t.errorCode !== 0) {
        throw new KraftyError(`topic ${t.name}: error ${t.errorCode}`, { code: t.errorCode, type: t.errorCode === 3 ? 'UNKNOWN_TOPIC_OR_PARTITION' : 'UNKNOWN', topic: t.name })
      }
    }
    return {
      topics: meta.map(t => ({
        name: t.name,
        partitions: t.partitions.map(p => ({
          partitionErrorCode: p.errorCode,
          partitionId: p.partition,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: []
        }))
      }))
    }
  }

  async _partitions (topic) {
    const [meta] = await this._admin.describeTopics([topic])
    if (!meta || meta.errorCode !== 0) {
      throw new KraftyError(`topic ${topic} does not exist`, { code: 3, type: 'UNKNOWN_TOPIC_OR_PARTITION', topic })
    }
    return meta.partitions.map(p => ({ topic, partition: p.partition }))
  }

  /** `[{ partition, offset (high), high, low }]` */
  async fetchTopicOffsets (topic) {
    const tps = await this._partitions(topic)
    const [low, high] = await Promise.all([this._admin.listOffsets(tps, 'earliest'), this._admin.listOffsets(tps, 'latest')])
    return tps.map(({ partition }) => {
      const l = low.find(o => o.partition === partition)
      const h = high.find(o => o.partition === partition)
      return { partition, offset: String(h.offset), high: String(h.offset), low: String(l.offset) }
    })
  }

  async listGroups () {
    const groups = await this._admin.listGroups()
    return { groups: groups.map(g => ({ groupId: g.groupId, protocolType: g.protocolType })) }
  }

  async describeGroups (groupIds) {
    const groups = await Promise.all(groupIds.map(g => this._admin.describeGroup(g)))
    return {
      groups: groups.map(g => ({
        errorCode: 0,
        groupId: g.groupId,
        state: g.state,
        protocolType: g.protocolType,
        protocol: g.protocol,
        members: g.members.map(m => ({
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: Buffer.alloc(0),
          memberAssignment: Buffer.alloc(0),
          assignment: m.assignment
        }))
      }))
    }
  }

  /** `{ groupId, topics }` → `[{ topic, partitions: [{ partition, offset, metadata }] }]` ('-1': none). */
  async fetchOffsets ({ groupId, topics }) {
    const committed = await this._admin.listGroupOffsets(groupId)
    const names = topics ?? [...new Set(committed.map(o => o.topic))]
    const out = []
    for (const topic of names) {
      const tps = await this._partitions(topic)
      out.push({
        topic,
        partitions: tps.map(({ partition }) => {
          const c = committed.find(o => o.topic === topic && o.partition === partition)
          return { partition, offset: c ? String(c.offset) : '-1', metadata: null }
        })
      })
    }
    return out
  }

  /** Sets the group's offsets of `topic` to its earliest (or latest) offsets. */
  async resetOffsets ({ groupId, topic, earliest = false }) {
    const tps = await this._partitions(topic)
    const offsets = await this._admin.listOffsets(tps, earliest ? 'earliest' : 'latest')
    await this._admin.alterGroupOffsets(groupId, offsets)
  }

  /** `{ groupId, topic, partitions: [{ partition, offset }] }` */
  setOffsets ({ groupId, topic, partitions }) {
    return this._admin.alterGroupOffsets(groupId, partitions.map(p => ({ topic, partition: p.partition, offset: Number(p.offset) })))
  }

  deleteGroups (groupIds) { return this._admin.deleteGroups(groupIds) }
}

module.exports = { Kafka, CompressionTypes }
