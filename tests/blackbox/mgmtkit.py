# SPDX-License-Identifier: MIT
"""mgmtkit: a small client for the management HTTP API (urllib) and a test case
base that starts one broker per test with its management port."""

import base64
import json
import urllib.error
import urllib.request

from harness import BrokerTestCase


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers

    @property
    def json(self):
        return json.loads(self.raw) if self.raw else None


def call(port, method, path, body=None, user="guest", password="guest", raw=None,
         headers=None, host="127.0.0.1"):
    """One request to host:port; path is used as given (already escaped)."""
    h = {"content-type": "application/json"}
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path), data=data,
                                 method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Response(r.status, r.read(), r.headers)
    except urllib.error.HTTPError as e:
        return Response(e.code, e.read(), e.headers)


class MgmtTestCase(BrokerTestCase):
    def api(self, method, path, body=None, **kw):
        return call(self.broker.mgmt_port, method, "/api/" + path, body, **kw)

    def get(self, path, **kw):
        r = self.api("GET", path, **kw)
        self.assertEqual(r.status, 200, r.raw)
        return r.json

    def assertStatus(self, r, status, body=None):
        self.assertEqual(r.status, status, r.raw)
        if body is not None:
            self.assertEqual(r.json, body)

    def pika(self, **kw):
        import pika
        from harness import pika_params
        c = pika.BlockingConnection(pika_params(self.broker, **kw))
        self.track(c)
        return c
