'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { krafty, cluster, createTopic, topicName, pollN, until } = require('./helpers.js')

let c
test.before(async () => { c = await cluster() })
test.after(async () => { await c.stop() })

async function produce (topic, n, partition = 0, prefix = 'v') {
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap })
  const metas = await p.sendBatch(Array.from({ length: n }, (_, i) => ({ topic, partition, key: `k${i}`, value: `${prefix}${i}` })))
  await p.close()
  return metas
}

test('assign + poll returns every record in order with its offset; seek and position', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  await produce(topic, 10)
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'auto.offset.reset': 'earliest' })
  try {
    await cons.assign([{ topic, partition: 0 }])
    const got = await pollN(cons, 10)
    assert.deepEqual(got.map(r => [r.offset, r.key.toString(), r.value.toString()]),
      Array.from({ length: 10 }, (_, i) => [i, `k${i}`, `v${i}`]))
    assert.equal(await cons.position({ topic, partition: 0 }), 10)
    await cons.seek({ topic, partition: 0 }, 7)
    const again = await pollN(cons, 3)
    assert.deepEqual(again.map(r => r.offset), [7, 8, 9])
    assert.deepEqual(await cons.endOffsets([{ topic, partition: 0 }]), [{ topic, partition: 0, offset: 10 }])
  } finally {
    await cons.close()
  }
})

test('for await iterates records in order and ends when the consumer is closed', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  await produce(topic, 5)
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'group.id': topicName('g'), 'auto.offset.reset': 'earliest' })
  await cons.subscribe([topic])
  const seen = []
  for await (const r of cons) {
    seen.push(r.value.toString())
    if (seen.length === 5) break
  }
  assert.deepEqual(seen, ['v0', 'v1', 'v2', 'v3', 'v4'])
  // A loop running when close() is called ends without an error.
  const loop = (async () => { let n = 0; for await (const _ of cons) n++; return n })() // eslint-disable-line no-unused-vars
  await new Promise(resolve => setTimeout(resolve, 100))
  await cons.close()
  assert.equal(typeof await loop, 'number')
})

test('commit and committed: explicit offsets and current positions', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  await produce(topic, 4)
  const group = topicName('g')
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false })
  try {
    await cons.subscribe([topic])
    await pollN(cons, 4)
    await cons.commitSync()
    assert.deepEqual((await cons.committed([{ topic, partition: 0 }])).map(o => o.offset), [4])
    await cons.commit([{ topic, partition: 0, offset: 2, metadata: 'half' }])
    assert.deepEqual(await cons.committed([{ topic, partition: 0 }]), [{ topic, partition: 0, offset: 2, metadata: 'half' }])
  } finally {
    await cons.close()
  }
  const admin = new krafty.AdminClient({ 'bootstrap.servers': c.bootstrap })
  assert.deepEqual(await admin.listGroupOffsets(group), [{ topic, partition: 0, offset: 2 }])
  await admin.close()
})

test('a consumer without group.id rejects commit with ILLEGAL_STATE', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap })
  try {
    await cons.assign([{ topic, partition: 0 }])
    await assert.rejects(cons.commit(), (e) => e instanceof krafty.KraftyError && e.type === 'ILLEGAL_STATE' && e.code === -4)
  } finally {
    await cons.close()
  }
})

test('pause stops a partition, resume brings it back', async () => {
  const topic = await createTopic(c.bootstrap, 2)
  await produce(topic, 3, 0, 'a')
  await produce(topic, 3, 1, 'b')
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'auto.offset.reset': 'earliest' })
  try {
    await cons.assign([{ topic, partition: 0 }, { topic, partition: 1 }])
    await cons.pause([{ topic, partition: 1 }])
    assert.deepEqual(await cons.paused(), [{ topic, partition: 1 }])
    const first = await pollN(cons, 3)
    await new Promise(resolve => setTimeout(resolve, 300))
    first.push(...await cons.poll(200))
    assert.deepEqual(first.map(r => `${r.partition}:${r.value}`), ['0:a0', '0:a1', '0:a2'])
    await cons.resume([{ topic, partition: 1 }])
    const second = await pollN(cons, 3)
    assert.deepEqual(second.map(r => `${r.partition}:${r.value}`), ['1:b0', '1:b1', '1:b2'])
  } finally {
    await cons.close()
  }
})

test('a group of two: listeners see assigned/revoked, a commit in revoked hands over the exact position', async () => {
  const topic = await createTopic(c.bootstrap, 2)
  await produce(topic, 5, 0, 'p0-')
  await produce(topic, 5, 1, 'p1-')
  const group = topicName('g')
  const config = { 'bootstrap.servers': c.bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false, 'max.poll.records': 1 }
  const events = { a: [], b: [] }
  const a = new krafty.KafkaConsumer(config)
  const b = new krafty.KafkaConsumer(config)
  const listenerFor = (name, consumer) => ({
    async onPartitionsRevoked (partitions) {
      events[name].push(['revoked', partitions.map(p => p.partition).sort()])
      await new Promise(resolve => setTimeout(resolve, 20)) // async work before the commit
      await consumer.commit() // made before the rebalance goes on
    },
    onPartitionsAssigned (partitions) {
      events[name].push(['assigned', partitions.map(p => p.partition).sort()])
    }
  })
  try {
    await a.subscribe([topic], listenerFor('a', a))
    // a alone: both partitions; read two records of each (max.poll.records = 1).
    const readByA = []
    await until(async () => { readByA.push(...await a.poll(100)); return readByA.length >= 4 }, 20000, 'a reads 4 records')
    assert.deepEqual(events.a[0], ['assigned', [0, 1]])
    const posA = {}
    for (const r of readByA) posA[r.partition] = Math.max(posA[r.partition] ?? 0, r.offset + 1)

    await b.subscribe([topic], listenerFor('b', b))
    const readByB = []
    let polling = true
    // Both poll (a rebalance needs every member to rejoin) until each has one partition.
    const pollA = (async () => { while (polling) readByA.push(...await a.poll(100, 1).catch(() => [])) })()
    await until(async () => {
      readByB.push(...await b.poll(100))
      return events.b.some(e => e[0] === 'assigned' && e[1].length === 1)
    }, 30000, 'b gets a partition')
    polling = false
    await pollA
    assert.ok(events.a.some(e => e[0] === 'revoked'), JSON.stringify(events))
    const bPartition = events.b.find(e => e[0] === 'assigned')[1][0]
    // b starts where a's commit in onPartitionsRevoked left the partition: no record is lost,
    // none is read twice.
    await produce(topic, 2, bPartition, 'late-')
    await until(async () => {
      readByB.push(...await b.poll(100))
      return readByB.some(r => r.offset === 6)
    }, 20000, 'b reads up to offset 6')
    const aLast = Math.max(-1, ...readByA.filter(r => r.partition === bPartition).map(r => r.offset))
    assert.ok(readByB.every(r => r.partition === bPartition))
    assert.deepEqual(readByB.map(r => r.offset), Array.from({ length: 6 - aLast }, (_, i) => aLast + 1 + i))
  } finally {
    await Promise.all([a.close(), b.close()])
  }
})

test('a listener may seek on assignment and read positions on revocation', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  await produce(topic, 6)
  const seen = []
  const group = topicName('g')
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false })
  await cons.subscribe([topic], {
    async onPartitionsAssigned (partitions) {
      for (const p of partitions) await cons.seek(p, 4) // applied before the first fetch
      seen.push(['assigned', await cons.position(partitions[0])])
    },
    async onPartitionsRevoked (partitions) {
      seen.push(['revoked', partitions.length, await cons.position(partitions[0])])
      await cons.commit()
    }
  })
  const got = await pollN(cons, 2)
  assert.deepEqual(got.map(r => r.offset), [4, 5])
  await cons.unsubscribe()
  assert.deepEqual(seen, [['assigned', 4], ['revoked', 1, 6]])
  await cons.close()
  // The commit made in onPartitionsRevoked (on unsubscribe) is the group's offset.
  const admin = new krafty.AdminClient({ 'bootstrap.servers': c.bootstrap })
  assert.deepEqual(await admin.listGroupOffsets(group), [{ topic, partition: 0, offset: 6 }])
  await admin.close()
})

test('a member the group forgot gets onPartitionsLost, not revoked, then its partitions back', async (t) => {
  if (!c.broker) return t.skip('needs the DevBroker to fail a heartbeat')
  const topic = await createTopic(c.bootstrap, 2)
  await produce(topic, 3, 0)
  const events = []
  const consumer = new krafty.KafkaConsumer({
    'bootstrap.servers': c.bootstrap,
    'group.id': topicName('g-lost'),
    'auto.offset.reset': 'earliest',
    'heartbeat.interval.ms': 200,
    // The failed heartbeat leaves the member in the broker's group: its session must expire
    // before the group can rebalance.
    'session.timeout.ms': 6000
  })
  try {
    await consumer.subscribe([topic], {
      onPartitionsRevoked (partitions) { events.push(['revoked', partitions.map(p => p.partition).sort()]) },
      onPartitionsAssigned (partitions) { events.push(['assigned', partitions.map(p => p.partition).sort()]) },
      onPartitionsLost (partitions) { events.push(['lost', partitions.map(p => p.partition).sort()]) }
    })
    await until(async () => { await consumer.poll(100); return events.length === 1 }, 20000, 'the first assignment')
    // The coordinator no longer knows this member: its partitions may already be another's.
    c.broker.failNext(krafty.ApiKeys.Heartbeat, 25) // UNKNOWN_MEMBER_ID
    await until(async () => { await consumer.poll(100); return events.length >= 3 }, 60000, 'lost, then assigned again')
    assert.deepEqual(events, [['assigned', [0, 1]], ['lost', [0, 1]], ['assigned', [0, 1]]])
  } finally {
    await consumer.close()
  }
})
