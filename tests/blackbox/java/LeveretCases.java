// SPDX-License-Identifier: MIT
// RabbitMQ Java client (Debian librabbitmq-client-java) cases for Leveret's
// black-box tests; 51_java.py compiles this file and runs one case per test:
//   java -cp BUILD:amqp-client.jar:slf4j-api.jar:slf4j-nop.jar LeveretCases PORT CASE
// Prints "ok CASE" and exits 0 on success; prints the failure and exits 1.

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public final class LeveretCases {
    private LeveretCases() {}

    static void check(boolean cond, String what) {
        if (!cond) {
            throw new AssertionError(what);
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    static GetResponse getWithin(Channel ch, String q, long millis) throws Exception {
        long end = System.nanoTime() + millis * 1_000_000L;
        while (System.nanoTime() < end) {
            GetResponse r = ch.basicGet(q, true);
            if (r != null) {
                return r;
            }
            Thread.sleep(20);
        }
        return null;
    }

    static void declare(Connection conn) throws Exception {
        Channel ch = conn.createChannel();
        ch.exchangeDeclare("java.x", "direct", false);
        AMQP.Queue.DeclareOk ok = ch.queueDeclare("java.q", false, false, false, null);
        check(ok.getQueue().equals("java.q"), "declare-ok queue name " + ok.getQueue());
        check(ok.getMessageCount() == 0 && ok.getConsumerCount() == 0, "declare-ok counts");
        String gen = ch.queueDeclare().getQueue();
        check(gen.startsWith("amq.gen-"), "server-named queue " + gen);
        ch.queueBind("java.q", "java.x", "k");
        ch.basicPublish("java.x", "k", null, utf8("hello"));
        GetResponse r = getWithin(ch, "java.q", 5000);
        check(r != null && str(r.getBody()).equals("hello"), "routed message");
        check(r.getEnvelope().getExchange().equals("java.x"), "envelope exchange");
        try {
            Channel bad = conn.createChannel();
            bad.queueDeclarePassive("java.missing");
            check(false, "passive declare of a missing queue succeeded");
        } catch (java.io.IOException e) {
            ShutdownSignalException sse = (ShutdownSignalException) e.getCause();
            AMQP.Channel.Close close = (AMQP.Channel.Close) sse.getReason();
            check(close.getReplyCode() == 404, "reply code " + close.getReplyCode());
            check(close.getReplyText().equals("NOT_FOUND - no queue 'java.missing' in vhost '/'"),
                  "reply text " + close.getReplyText());
        }
        ch.queueDelete("java.q");
        ch.exchangeDelete("java.x");
    }

    static void confirms(Connection conn) throws Exception {
        Channel ch = conn.createChannel();
        ch.queueDeclare("java.c", true, false, false, null);
        ch.confirmSelect();
        for (int i = 0; i < 100; i++) {
            ch.basicPublish("", "java.c",
                            new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
                            utf8("m" + i));
        }
        ch.waitForConfirmsOrDie(10000);
        check(ch.getNextPublishSeqNo() == 101, "next publish seq no " + ch.getNextPublishSeqNo());
        long n = ch.messageCount("java.c");
        check(n == 100, "message count " + n);
        ch.queueDelete("java.c");
    }

    static void consume(Connection conn) throws Exception {
        Channel ch = conn.createChannel();
        ch.queueDeclare("java.cons", false, false, false, null);
        for (int i = 0; i < 5; i++) {
            ch.basicPublish("", "java.cons", null, utf8(Integer.toString(i)));
        }
        ch.basicQos(2);
        final List<String> got = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch done = new CountDownLatch(5);
        String tag = ch.basicConsume("java.cons", false, new DefaultConsumer(ch) {
            @Override
            public void handleDelivery(String consumerTag, Envelope env,
                                       AMQP.BasicProperties props, byte[] body)
                    throws java.io.IOException {
                got.add(str(body));
                getChannel().basicAck(env.getDeliveryTag(), false);
                done.countDown();
            }
        });
        check(tag.startsWith("amq.ctag-"), "server-generated tag " + tag);
        check(done.await(10, TimeUnit.SECONDS), "deliveries: " + got);
        check(got.equals(List.of("0", "1", "2", "3", "4")), "order " + got);
        ch.basicCancel(tag);
        Thread.sleep(100);
        check(ch.messageCount("java.cons") == 0, "all acked");
        // The broker cancels the consumer when its queue is deleted.
        final CountDownLatch cancelled = new CountDownLatch(1);
        ch.basicConsume("java.cons", true, new DefaultConsumer(ch) {
            @Override
            public void handleCancel(String consumerTag) {
                cancelled.countDown();
            }
        });
        conn.createChannel().queueDelete("java.cons");
        check(cancelled.await(5, TimeUnit.SECONDS), "handleCancel after queue.delete");
    }

    static void e2e(Connection conn) throws Exception {
        Channel ch = conn.createChannel();
        ch.exchangeDeclare("java.src", "topic");
        ch.exchangeDeclare("java.dst", "fanout");
        ch.exchangeBind("java.dst", "java.src", "orders.*");
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, "java.dst", "");
        ch.basicPublish("java.src", "orders.new", null, utf8("yes"));
        ch.basicPublish("java.src", "invoices.new", null, utf8("no"));
        GetResponse r = getWithin(ch, q, 5000);
        check(r != null && str(r.getBody()).equals("yes"), "through the e2e binding");
        check(r.getEnvelope().getRoutingKey().equals("orders.new"), "routing key kept");
        Thread.sleep(100);
        check(ch.basicGet(q, true) == null, "non-matching key filtered by the e2e binding");
        ch.exchangeUnbind("java.dst", "java.src", "orders.*");
        ch.basicPublish("java.src", "orders.new", null, utf8("after-unbind"));
        Thread.sleep(100);
        check(ch.basicGet(q, true) == null, "unbound");
        ch.exchangeDelete("java.src");
        ch.exchangeDelete("java.dst");
    }

    static void headers(Connection conn) throws Exception {
        Channel ch = conn.createChannel();
        String q = ch.queueDeclare().getQueue();
        Map<String, Object> args = new HashMap<>();
        args.put("x-match", "any");
        args.put("color", "red");
        args.put("size", 10);
        ch.queueBind(q, "amq.headers", "", args);
        Map<String, Object> h = new HashMap<>();
        h.put("size", 10);
        ch.basicPublish("amq.headers", "", new AMQP.BasicProperties.Builder().headers(h).build(),
                        utf8("match"));
        h.put("size", 11);
        ch.basicPublish("amq.headers", "", new AMQP.BasicProperties.Builder().headers(h).build(),
                        utf8("nomatch"));
        GetResponse r = getWithin(ch, q, 5000);
        check(r != null && str(r.getBody()).equals("match"), "headers any");
        Thread.sleep(100);
        check(ch.basicGet(q, true) == null, "only one match");
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        String which = args[1];
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(port);
        f.setUsername("guest");
        f.setPassword("guest");
        f.setRequestedHeartbeat(0);
        f.setConnectionTimeout(5000);
        f.setAutomaticRecoveryEnabled(false);
        Connection conn = f.newConnection();
        try {
            switch (which) {
                case "declare": declare(conn); break;
                case "confirms": confirms(conn); break;
                case "consume": consume(conn); break;
                case "e2e": e2e(conn); break;
                case "headers": headers(conn); break;
                default:
                    System.err.println("unknown case " + which);
                    System.exit(64);
            }
            conn.close(5000);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("ok " + which);
        System.exit(0);
    }
}
