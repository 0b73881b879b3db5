'use strict'
// Shared by the tests: a cluster (KRAFTY_TEST_BOOTSTRAP, else a DevBroker in this process),
// unique topic names, and topic creation through the AdminClient.
const crypto = require('node:crypto')
const krafty = require('..')

const external = process.env.KRAFTY_TEST_BOOTSTRAP || null

/** `{ bootstrap, broker (null on a real Kafka), stop() }` */
async function cluster (options = {}) {
  if (external) return { bootstrap: external, broker: null, stop: async () => {} }
  const broker = await krafty.DevBroker.start(options)
  return { bootstrap: broker.bootstrap, broker, stop: () => broker.stop() }
}

function topicName (prefix = 't') {
  return `node-${prefix}-${crypto.randomBytes(5).toString('hex')}`
}

async function createTopic (bootstrap, partitions = 1, prefix) {
  const topic = topicName(prefix)
  const admin = new krafty.AdminClient({ 'bootstrap.servers': bootstrap })
  try {
    await admin.createTopics([{ topic, numPartitions: partitions, replicationFactor: 1 }])
  } finally {
    await admin.close()
  }
  return topic
}

/** Polls until `n` records arrived (or `timeoutMs` passed); returns them. */
async function pollN (consumer, n, timeoutMs = 20000) {
  const out = []
  const deadline = Date.now() + timeoutMs
  while (out.length < n && Date.now() < deadline) out.push(...await consumer.poll(200))
  return out
}

async function until (cond, timeoutMs = 20000, what = 'condition') {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

module.exports = { krafty, external, cluster, topicName, createTopic, pollN, until }
