// SPDX-License-Identifier: MIT
// amqplib cases for Leveret's black-box tests (50_amqplib.py runs one per test):
//   node cases.js PORT CASE
// Prints "ok CASE" and exits 0 when the case passes; prints the failure and exits 1
// otherwise. Every case ends within TIMEOUT_MS.
'use strict';

const amqp = require('amqplib');
const assert = require('assert/strict');

const TIMEOUT_MS = 15000;
const [port, which] = process.argv.slice(2);
const url = `amqp://guest:guest@127.0.0.1:${port}/?heartbeat=0`;

// Resolves with the first `n` messages a consumer gets (noAck as given).
function take(ch, queue, n, opts = {}) {
  return new Promise((resolve, reject) => {
    const got = [];
    ch.consume(queue, (msg) => {
      if (msg === null) return reject(new Error('consumer cancelled by the broker'));
      got.push(msg);
      if (got.length === n) resolve(got);
    }, opts).catch(reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cases = {
  async declare(conn) {
    const ch = await conn.createChannel();
    await ch.assertExchange('js.x', 'topic', { durable: false });
    const q = await ch.assertQueue('', { exclusive: true });
    assert.match(q.queue, /^amq\.gen-/);
    assert.equal(q.messageCount, 0);
    await ch.bindQueue(q.queue, 'js.x', 'a.#');
    const named = await ch.assertQueue('js.q', { arguments: { 'x-max-priority': 4 } });
    assert.deepEqual(named, { queue: 'js.q', messageCount: 0, consumerCount: 0 });
    await ch.checkQueue('js.q');
    await ch.checkExchange('js.x');
    ch.publish('js.x', 'a.b.c', Buffer.from('hello'));
    let m = false;
    for (let i = 0; i < 50 && !m; i++) {
      m = await ch.get(q.queue, { noAck: true });
      if (!m) await sleep(20);
    }
    assert.ok(m, 'message routed through the topic exchange');
    assert.equal(m.content.toString(), 'hello');
    assert.equal(m.fields.routingKey, 'a.b.c');
    const del = await ch.deleteQueue('js.q');
    assert.equal(del.messageCount, 0);
    await ch.deleteExchange('js.x');
  },

  async confirm(conn) {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('js.c');
    const n = 200;
    for (let i = 0; i < n; i++) {
      ch.sendToQueue('js.c', Buffer.from(String(i)), { persistent: true });
    }
    await ch.waitForConfirms();
    const acked = await new Promise((resolve, reject) => {
      ch.publish('', 'js.c', Buffer.from('cb'), {}, (err) => (err ? reject(err) : resolve(true)));
    });
    assert.ok(acked);
    const q = await ch.checkQueue('js.c');
    assert.equal(q.messageCount, n + 1);
    // Unroutable mandatory: basic.return, then the ack.
    const returned = new Promise((resolve) => ch.once('return', resolve));
    await new Promise((resolve, reject) => {
      ch.publish('amq.direct', 'nobody', Buffer.from('r'), { mandatory: true },
        (err) => (err ? reject(err) : resolve()));
    });
    const r = await returned;
    assert.equal(r.fields.replyCode, 312);
    assert.equal(r.fields.replyText, 'NO_ROUTE');
  },

  async consume_ack(conn) {
    const ch = await conn.createChannel();
    await ch.assertQueue('js.ca');
    for (let i = 0; i < 5; i++) ch.sendToQueue('js.ca', Buffer.from(String(i)));
    const msgs = await take(ch, 'js.ca', 5);
    assert.deepEqual(msgs.map((m) => m.content.toString()), ['0', '1', '2', '3', '4']);
    assert.match(msgs[0].fields.consumerTag, /^amq\.ctag-/);
    ch.ack(msgs[1]);
    ch.ack(msgs[4], true);          // multiple: acks the rest
    await ch.close();
    const ch2 = await conn.createChannel();
    const q = await ch2.checkQueue('js.ca');
    assert.equal(q.messageCount, 0);
  },

  async nack_requeue(conn) {
    const ch = await conn.createChannel();
    await ch.assertQueue('js.n');
    ch.sendToQueue('js.n', Buffer.from('again'));
    let tag;
    const seen = await new Promise((resolve, reject) => {
      const got = [];
      ch.consume('js.n', (msg) => {
        got.push(msg);
        if (got.length === 1) ch.nack(msg, false, true);
        else { ch.ack(msg); resolve(got); }
      }).then((ok) => { tag = ok.consumerTag; }, reject);
    });
    await ch.cancel(tag);
    assert.equal(seen[0].fields.redelivered, false);
    assert.equal(seen[1].fields.redelivered, true);
    assert.equal(seen[1].content.toString(), 'again');
    ch.sendToQueue('js.n', Buffer.from('drop'));
    const ch2 = await conn.createChannel();
    let m = false;
    for (let i = 0; i < 50 && !m; i++) {
      m = await ch2.get('js.n');
      if (!m) await sleep(20);
    }
    assert.ok(m);
    ch2.reject(m, false);
    await sleep(50);
    const q = await ch2.checkQueue('js.n');
    assert.equal(q.messageCount, 0);
  },

  async prefetch(conn) {
    const ch = await conn.createChannel();
    await ch.assertQueue('js.p');
    for (let i = 0; i < 10; i++) ch.sendToQueue('js.p', Buffer.from(String(i)));
    await ch.prefetch(3);
    const got = [];
    await ch.consume('js.p', (msg) => got.push(msg));
    await sleep(300);
    assert.equal(got.length, 3, 'prefetch 3: three unacked deliveries');
    ch.ack(got[0]);
    await sleep(300);
    assert.equal(got.length, 4, 'one ack frees one slot');
    ch.ackAll();
    await sleep(300);
    assert.equal(got.length, 7);
  },

  async channel_error(conn) {
    const ch = await conn.createChannel();
    const closed = new Promise((resolve) => ch.on('error', resolve));
    await assert.rejects(ch.checkQueue('js.missing'),
      (err) => err.code === 404 && /NOT_FOUND - no queue 'js.missing' in vhost '\/'/.test(err.message));
    const err = await closed;
    assert.equal(err.code, 404);
    const ch2 = await conn.createChannel();          // the connection lives on
    await ch2.checkExchange('amq.direct');
  },
};

async function main() {
  const fn = cases[which];
  if (!fn) {
    console.error(`unknown case ${which}; cases: ${Object.keys(cases).join(' ')}`);
    process.exit(64);
  }
  const timer = setTimeout(() => {
    console.error(`case ${which} timed out after ${TIMEOUT_MS} ms`);
    process.exit(2);
  }, TIMEOUT_MS);
  const conn = await amqp.connect(url);
  conn.on('error', (e) => console.error('connection error:', e.message));
  await fn(conn);
  await conn.close();
  clearTimeout(timer);
  console.log(`ok ${which}`);
}

main().catch((e) => {
  console.error(`case ${which} failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
