# SPDX-License-Identifier: MIT
"""80 permissions (issue 7): configure/write/read patterns checked on every AMQP
operation, with RabbitMQ's rules, order and texts (rabbit_channel.erl; every
case here was run against RabbitMQ 3.10 with the same users and permissions).

- exchange.declare / delete: configure on the exchange; passive declares need
  nothing; a new exchange with an alternate-exchange also needs read on itself
  and write on the alternate.
- queue.declare / delete: configure on the queue (a server-named queue under its
  generated amq.gen-... name); passive declares need nothing; a new queue with
  an x-dead-letter-exchange also needs read on itself and write on the DLX.
- queue.bind / unbind: write on the queue, read on the exchange.
- exchange.bind / unbind: write on the destination, read on the source.
- basic.publish: write on the exchange ("" is checked as amq.default).
- basic.get / basic.consume / queue.purge: read on the queue.
- Permissions are checked before existence: a refused user gets 403 whether
  or not the object exists, so it cannot probe names.
- user_id must be the login name, unless the user is tagged impersonator.

Users: "app" may do everything on names starting "app." and nothing else;
"noread" has configure and write on everything and read on nothing; guest
(administrator) sets the scene.
"""

import pika

from pikakit import PikaTestCase

ALL = {"configure": ".*", "write": ".*", "read": ".*"}


def perm(user, **kw):
    p = dict(ALL, user=user, vhost="/")
    p.update(kw)
    return p


def refused(kind, name, user="app"):
    return ("ACCESS_REFUSED - access to %s '%s' in vhost '/' refused for user '%s'"
            % (kind, name, user))


class PermissionCase(PikaTestCase):
    CONFIG = {
        "users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
                  {"name": "app", "password": "p"},
                  {"name": "noread", "password": "p"},
                  {"name": "imp", "password": "p", "tags": ["impersonator"]}],
        "permissions": [perm("guest"),
                        perm("app", configure=r"^app\.", write=r"^app\.", read=r"^app\."),
                        perm("noread", read=""),
                        perm("imp")],
    }

    def setUp(self):
        super().setUp()
        ch = self.channel()
        for q in ("app.q", "other.q"):
            ch.queue_declare(q)
        for x in ("app.x", "other.x"):
            ch.exchange_declare(x, "direct")

    def app(self, user="app"):
        """A channel of a connection logged in as user (password "p")."""
        return self.channel(self.connect(user=user, password="p"))


class ExchangeDeclareDelete(PermissionCase):
    def test_declare_needs_configure_on_the_exchange(self):
        ch = self.app()
        ch.exchange_declare("app.new", "fanout")
        self.assertChannelError(403, refused("exchange", "other.new"),
                                self.app().exchange_declare, "other.new", "fanout")
        self.assertExchangeMissing("other.new")

    def test_configure_is_checked_before_the_reserved_prefix(self):
        self.assertChannelError(403, refused("exchange", "amq.mine"),
                                self.app().exchange_declare, "amq.mine", "fanout")

    def test_passive_declare_needs_no_permission(self):
        self.app().exchange_declare("other.x", passive=True)

    def test_delete_needs_configure_whether_or_not_it_exists(self):
        self.assertChannelError(403, refused("exchange", "other.x"),
                                self.app().exchange_delete, "other.x")
        self.assertChannelError(403, refused("exchange", "nosuch.x"),
                                self.app().exchange_delete, "nosuch.x")
        ch = self.app()
        ch.exchange_delete("app.x")
        ch.exchange_delete("app.nosuch")  # missing but permitted: delete-ok
        self.assertExchangeMissing("app.x")
        self.assertExchangeExists("other.x")

    def test_alternate_exchange_needs_write_on_it(self):
        self.assertChannelError(403, refused("exchange", "other.x"),
                                self.app().exchange_declare, "app.ae", "fanout",
                                arguments={"alternate-exchange": "other.x"})
        self.assertExchangeMissing("app.ae")
        self.app().exchange_declare("app.ae", "fanout", arguments={"alternate-exchange": "app.x"})

    def test_alternate_exchange_needs_read_on_the_new_exchange(self):
        ch = self.app("noread")
        ch.exchange_declare("n.plain", "fanout")
        self.assertChannelError(403, refused("exchange", "n.ae", "noread"),
                                self.app("noread").exchange_declare, "n.ae", "fanout",
                                arguments={"alternate-exchange": "amq.fanout"})


class QueueDeclareDelete(PermissionCase):
    def test_declare_needs_configure_on_the_queue(self):
        self.app().queue_declare("app.new")
        self.assertChannelError(403, refused("queue", "other.new"),
                                self.app().queue_declare, "other.new")
        self.assertQueueMissing("other.new")

    def test_server_named_queue_is_checked_under_its_generated_name(self):
        text = self.assertChannelError(403, None, self.app().queue_declare, "", exclusive=True)
        self.assertRegex(text, r"^ACCESS_REFUSED - access to queue 'amq\.gen-[A-Za-z0-9_-]{22}' "
                               r"in vhost '/' refused for user 'app'$")
        # guest may, of course
        self.assertTrue(self.channel().queue_declare("", exclusive=True).method.queue
                        .startswith("amq.gen-"))

    def test_passive_declare_needs_no_permission(self):
        self.assertEqual(self.app().queue_declare("other.q", passive=True).method.queue,
                         "other.q")

    def test_delete_needs_configure_whether_or_not_it_exists(self):
        self.assertChannelError(403, refused("queue", "other.q"), self.app().queue_delete,
                                "other.q")
        self.assertChannelError(403, refused("queue", "nosuch.q"), self.app().queue_delete,
                                "nosuch.q")
        ch = self.app()
        ch.queue_delete("app.q")
        self.assertEqual(ch.queue_delete("app.nosuch").method.message_count, 0)
        self.assertQueueMissing("app.q")

    def test_permission_comes_before_exclusive_ownership(self):
        owner = self.channel()
        owner.queue_declare("other.excl", exclusive=True)
        owner.queue_declare("app.excl", exclusive=True)
        self.assertChannelError(403, refused("queue", "other.excl"), self.app().queue_delete,
                                "other.excl")
        self.assertChannelError(405, None, self.app().queue_delete, "app.excl")

    def test_dead_letter_exchange_needs_write_on_it(self):
        self.assertChannelError(403, refused("exchange", "other.x"), self.app().queue_declare,
                                "app.dl", arguments={"x-dead-letter-exchange": "other.x"})
        self.assertQueueMissing("app.dl")
        # The default exchange "" is checked as amq.default.
        self.assertChannelError(403, refused("exchange", "amq.default"),
                                self.app().queue_declare, "app.dl",
                                arguments={"x-dead-letter-exchange": ""})
        self.app().queue_declare("app.dl", arguments={"x-dead-letter-exchange": "app.x"})

    def test_dead_letter_exchange_needs_read_on_the_new_queue(self):
        self.app("noread").queue_declare("n.plain")
        self.assertChannelError(403, refused("queue", "n.dl", "noread"),
                                self.app("noread").queue_declare, "n.dl",
                                arguments={"x-dead-letter-exchange": "amq.fanout"})

    def test_dead_letter_exchange_of_the_wrong_type_is_406(self):
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid type 'signedint' for arg "
                 "'x-dead-letter-exchange' in queue 'app.dl' in vhost '/'",
            self.app().queue_declare, "app.dl", arguments={"x-dead-letter-exchange": 5})


class QueueBindings(PermissionCase):
    def test_bind_needs_write_on_the_queue_and_read_on_the_exchange(self):
        self.app().queue_bind("app.q", "app.x", "k")
        self.assertChannelError(403, refused("queue", "other.q"), self.app().queue_bind,
                                "other.q", "app.x", "k")
        self.assertChannelError(403, refused("exchange", "other.x"), self.app().queue_bind,
                                "app.q", "other.x", "k")

    def test_unbind_needs_the_same(self):
        self.channel().queue_bind("other.q", "app.x", "k")
        self.channel().queue_bind("app.q", "other.x", "k")
        self.assertChannelError(403, refused("queue", "other.q"), self.app().queue_unbind,
                                "other.q", "app.x", "k")
        self.assertChannelError(403, refused("exchange", "other.x"), self.app().queue_unbind,
                                "app.q", "other.x", "k")
        self.app().queue_bind("app.q", "app.x", "k")
        self.app().queue_unbind("app.q", "app.x", "k")

    def test_refused_before_missing(self):
        self.assertChannelError(403, refused("queue", "nosuch.q"), self.app().queue_bind,
                                "nosuch.q", "app.x")
        self.assertChannelError(403, refused("exchange", "nosuch.x"), self.app().queue_bind,
                                "app.q", "nosuch.x")
        self.assertChannelError(404, "NOT_FOUND - no exchange 'app.nx' in vhost '/'",
                                self.app().queue_bind, "app.nq", "app.nx")
        self.assertChannelError(404, "NOT_FOUND - no queue 'app.nq' in vhost '/'",
                                self.app().queue_bind, "app.nq", "app.x")

    def test_default_exchange_after_write_on_the_queue(self):
        self.assertChannelError(403, refused("queue", "other.q"), self.app().queue_bind,
                                "other.q", "")
        self.assertChannelError(403, "ACCESS_REFUSED - operation not permitted on the default "
                                     "exchange", self.app().queue_bind, "app.q", "")


class ExchangeBindings(PermissionCase):
    def test_bind_needs_write_on_the_destination_and_read_on_the_source(self):
        self.app().exchange_bind("app.x", "app.x")  # an exchange may feed itself
        self.channel().exchange_declare("app.d", "fanout")
        self.app().exchange_bind("app.d", "app.x", "k")
        self.assertChannelError(403, refused("exchange", "other.x"), self.app().exchange_bind,
                                "other.x", "app.x")
        self.assertChannelError(403, refused("exchange", "amq.fanout"),
                                self.app().exchange_bind, "app.x", "amq.fanout")

    def test_unbind_needs_the_same(self):
        self.channel().exchange_bind("other.x", "app.x", "k")
        self.assertChannelError(403, refused("exchange", "other.x"),
                                self.app().exchange_unbind, "other.x", "app.x", "k")
        self.app().exchange_unbind("app.x", "app.missing", "k")  # missing end: unbind-ok

    def test_refused_before_missing_and_source_reported_first(self):
        self.assertChannelError(403, refused("exchange", "nosuch.d"),
                                self.app().exchange_bind, "nosuch.d", "app.x")
        self.assertChannelError(403, refused("exchange", "other.s"),
                                self.app().exchange_bind, "app.nd", "other.s")
        self.assertChannelError(404, "NOT_FOUND - no exchange 'app.ns' in vhost '/'",
                                self.app().exchange_bind, "app.nd", "app.ns")

    def test_default_exchange_as_destination_is_checked_as_amq_default(self):
        self.assertChannelError(403, refused("exchange", "amq.default"),
                                self.app().exchange_bind, "", "app.x")
        self.assertChannelError(403, "ACCESS_REFUSED - operation not permitted on the default "
                                     "exchange", self.app().exchange_bind, "app.x", "")


class Publish(PermissionCase):
    def publish(self, ch, exchange, key, props=None):
        ch.confirm_delivery()
        ch.basic_publish(exchange, key, b"m", props)

    def test_publish_needs_write_on_the_exchange(self):
        self.channel().queue_bind("app.q", "app.x", "k")
        self.publish(self.app(), "app.x", "k")
        self.assertEqual(self.bodies(self.channel(), "app.q"), [b"m"])
        self.assertChannelError(403, refused("exchange", "other.x"), self.publish, self.app(),
                                "other.x", "k")

    def test_default_exchange_is_checked_as_amq_default(self):
        self.assertChannelError(403, refused("exchange", "amq.default"), self.publish,
                                self.app(), "", "app.q")
        self.assertEqual(self.message_count("app.q"), 0)
        self.publish(self.channel(), "", "app.q")  # guest may
        self.assertEqual(self.message_count("app.q"), 1)

    def test_refused_before_missing(self):
        self.assertChannelError(403, refused("exchange", "nosuch.x"), self.publish, self.app(),
                                "nosuch.x", "k")
        self.assertChannelError(404, "NOT_FOUND - no exchange 'app.nosuch' in vhost '/'",
                                self.publish, self.app(), "app.nosuch", "k")

    def test_user_id_must_be_the_login_name(self):
        self.channel().queue_bind("app.q", "app.x", "k")
        self.publish(self.app(), "app.x", "k", pika.BasicProperties(user_id="app"))
        self.assertChannelError(
            406, "PRECONDITION_FAILED - user_id property set to 'boss' but authenticated user "
                 "was 'app'", self.publish, self.app(), "app.x", "k",
            pika.BasicProperties(user_id="boss"))
        # An administrator is no exception.
        self.assertChannelError(
            406, "PRECONDITION_FAILED - user_id property set to 'boss' but authenticated user "
                 "was 'guest'", self.publish, self.channel(), "app.x", "k",
            pika.BasicProperties(user_id="boss"))

    def test_impersonator_may_set_any_user_id(self):
        self.channel().queue_bind("app.q", "app.x", "k")
        self.publish(self.app("imp"), "app.x", "k", pika.BasicProperties(user_id="boss"))
        m, p, b = self.channel().basic_get("app.q", auto_ack=True)
        self.assertEqual(p.user_id, "boss")


class Read(PermissionCase):
    def test_get_needs_read_on_the_queue(self):
        self.channel().basic_publish("", "app.q", b"m")
        m, p, b = self.app().basic_get("app.q", auto_ack=True)
        self.assertEqual(b, b"m")
        self.assertChannelError(403, refused("queue", "other.q"), self.app().basic_get,
                                "other.q")

    def test_consume_needs_read_on_the_queue(self):
        ch = self.app()
        ch.basic_consume("app.q", lambda *a: None)
        self.assertChannelError(403, refused("queue", "other.q"), self.app().basic_consume,
                                "other.q", lambda *a: None)

    def test_purge_needs_read_on_the_queue(self):
        ch = self.channel()
        ch.confirm_delivery()
        ch.basic_publish("", "other.q", b"m")
        self.assertChannelError(403, refused("queue", "other.q"), self.app().queue_purge,
                                "other.q")
        self.assertEqual(self.message_count("other.q"), 1)
        self.assertEqual(self.app().queue_purge("app.q").method.message_count, 0)

    def test_refused_before_missing(self):
        for fn in (lambda ch: ch.basic_get("nosuch.q"),
                   lambda ch: ch.basic_consume("nosuch.q", lambda *a: None),
                   lambda ch: ch.queue_purge("nosuch.q")):
            self.assertChannelError(403, refused("queue", "nosuch.q"), fn, self.app())
        self.assertChannelError(404, "NOT_FOUND - no queue 'app.nosuch' in vhost '/'",
                                self.app().basic_get, "app.nosuch")

    def test_write_only_user_cannot_read_what_it_published(self):
        ch = self.app("noread")
        ch.queue_declare("n.q")
        ch.confirm_delivery()
        ch.basic_publish("", "n.q", b"m")
        self.assertChannelError(403, refused("queue", "n.q", "noread"),
                                self.app("noread").basic_get, "n.q")
        self.assertEqual(self.message_count("n.q"), 1)
