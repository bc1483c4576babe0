#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate Leveret's AMQP 0-9-1 codec from the spec XML (STYLE.md section 7).

Reads the Debian amqp-specs file amqp0-9-1.stripped.extended.xml plus a
supplement in the same dialect (tools/spec/rabbit-extensions.xml) and writes:

  amqp/spec_gen.h, amqp/spec_gen.c       constants, method structs, codec, metadata
  broker/handlers_gen.h                  one handle_<class>_<method>() per method
                                         the server receives
  broker/dispatch_gen.c                  method id -> typed handler
  tests/unit/test_spec_roundtrip.c       cmocka round trip of every method

Usage:
  codegen.py --spec amqp0-9-1.stripped.extended.xml \
             --extra tools/spec/rabbit-extensions.xml --out .

Only the standard library is used. Output is deterministic (everything is
sorted by method id) so `make codegen-check` can diff it; the Makefile runs
clang-format over the result, so layout here only has to be reasonable.

Representation choices (documented again in spec_gen.h):
  * Reserved fields (reserved="1") are not struct members: the decoder
    bounds-checks and skips them, the encoder writes 0 or an empty string.
    A field given with type= but without reserved="1" (confirm.select nowait)
    is an ordinary field.
  * A method without ordinary fields gets a struct with a single `char unused_`
    so every method has a typed argument struct (C11 has no empty structs).
  * Consecutive bit fields share one octet, least significant bit first; a
    run of more than eight bits continues in the next octet.
"""

import argparse
import os
import sys
import textwrap
import xml.etree.ElementTree as ET

# wire type -> (C type, fixed encoded size or None when variable / bit)
PRIMITIVES = {
    "octet": ("uint8_t", 1),
    "short": ("uint16_t", 2),
    "long": ("uint32_t", 4),
    "longlong": ("uint64_t", 8),
    "timestamp": ("uint64_t", 8),
    "bit": ("bool", None),
    "shortstr": ("struct view", None),
    "longstr": ("struct view", None),
    "table": ("struct view", None),
}

C_KEYWORDS = set(
    """auto break case char const continue default do double else enum extern
    float for goto if inline int long register restrict return short signed
    sizeof static struct switch typedef union unsigned void volatile while
    _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn
    _Static_assert _Thread_local bool true false""".split()
)

# The Debian file names the 14th basic property "reserved"; RabbitMQ and every
# client call it cluster-id, and it is a real (if deprecated) property.
PROPERTY_RENAMES = {("basic", "reserved"): "cluster-id"}

PROP_CLASS = "basic"


class SpecError(Exception):
    pass


def c_ident(name):
    ident = name.replace("-", "_")
    if ident in C_KEYWORDS:
        ident += "_"
    return ident


def upper(name):
    return name.replace("-", "_").replace(".", "_").upper()


class Field:
    def __init__(self, name, wire, domain, reserved, asserts):
        self.name = name
        self.cname = c_ident(name)
        self.wire = wire
        self.domain = domain
        self.reserved = reserved
        self.asserts = asserts

    @property
    def ctype(self):
        return PRIMITIVES[self.wire][0]


class Method:
    def __init__(self, klass, name, index, synchronous, content, responses, chassis, fields):
        self.klass = klass
        self.name = name
        self.index = index
        self.synchronous = synchronous
        self.content = content
        self.responses = responses
        self.chassis = chassis
        self.fields = fields

    @property
    def id(self):
        return self.klass.index << 16 | self.index

    @property
    def full(self):
        return "%s.%s" % (self.klass.name, self.name)

    @property
    def member(self):
        return "%s_%s" % (c_ident(self.klass.name).rstrip("_"), self.name.replace("-", "_"))

    @property
    def struct(self):
        return "spec_" + self.member

    @property
    def macro(self):
        return "SPEC_" + upper(self.klass.name) + "_" + upper(self.name)

    @property
    def server_receives(self):
        return "server" in self.chassis

    @property
    def client_receives(self):
        return "client" in self.chassis

    @property
    def data_fields(self):
        return [f for f in self.fields if not f.reserved]

    @property
    def data_bits(self):
        return [f for f in self.fields if f.wire == "bit" and not f.reserved]

    def items(self):
        """Fields in wire order, with runs of bits grouped into octets."""
        out = []
        run = []
        for f in self.fields:
            if f.wire == "bit":
                run.append(f)
                if len(run) == 8:
                    out.append(("bits", run))
                    run = []
                continue
            if run:
                out.append(("bits", run))
                run = []
            out.append(("field", f))
        if run:
            out.append(("bits", run))
        return out


class Klass:
    def __init__(self, name, index):
        self.name = name
        self.index = index
        self.methods = []
        self.props = []

    @property
    def macro(self):
        return "SPEC_CLASS_" + upper(self.name)


class Constant:
    def __init__(self, name, value, cls):
        self.name = name
        self.value = value
        self.cls = cls

    @property
    def macro(self):
        return "SPEC_" + upper(self.name)

    @property
    def is_reply_code(self):
        # frame-error (501) is a reply code; frame-method etc. are not.
        return self.cls is not None or self.name.startswith("reply-")


class Spec:
    def __init__(self):
        self.constants = []
        self.domains = {}
        self.domain_asserts = {}
        self.classes = []
        self.port = None
        self.version = None
        self.sources = []

    # ---- loading ----

    def load(self, path):
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            raise SpecError("%s: %s" % (path, e))
        if root.tag != "amqp":
            raise SpecError("%s: root element is <%s>, expected <amqp>" % (path, root.tag))
        self.sources.append(os.path.basename(path))
        version = tuple(int(root.get(k, "-1")) for k in ("major", "minor", "revision"))
        if self.version is None:
            self.version = version
        elif version != self.version:
            raise SpecError("%s: version %s differs from %s" % (path, version, self.version))
        if root.get("port") is not None:
            self.port = int(root.get("port"))

        for c in root.findall("constant"):
            name = c.get("name")
            if any(k.name == name for k in self.constants):
                raise SpecError("%s: duplicate constant %s" % (path, name))
            self.constants.append(Constant(name, int(c.get("value")), c.get("class")))
        for d in root.findall("domain"):
            name = d.get("name")
            if name in self.domains:
                raise SpecError("%s: duplicate domain %s" % (path, name))
            self.domains[name] = d.get("type")
            self.domain_asserts[name] = [self._assert_text(a) for a in d.findall("assert")]
        # Field domains are resolved after all files are loaded, since a
        # supplement may use domains of the main file.
        for ce in root.findall("class"):
            self._load_class(path, ce)

    @staticmethod
    def _assert_text(a):
        check = a.get("check")
        if check == "length":
            return "length<=%s" % a.get("value")
        if check in ("le", "regexp", "notnull", "null", "enum", "syntax"):
            return check
        return check or "?"

    def _load_class(self, path, ce):
        name = ce.get("name")
        index = int(ce.get("index"))
        klass = next((k for k in self.classes if k.name == name), None)
        if klass is None:
            klass = Klass(name, index)
            self.classes.append(klass)
        elif klass.index != index:
            raise SpecError("%s: class %s has index %d, expected %d" % (path, name, index, klass.index))
        for fe in ce.findall("field"):
            klass.props.append(self._raw_field(fe))
        for me in ce.findall("method"):
            mname = me.get("name")
            mindex = int(me.get("index"))
            for m in klass.methods:
                if m.name == mname or m.index == mindex:
                    raise SpecError("%s: %s.%s (%d) duplicates %s (%d)"
                                    % (path, name, mname, mindex, m.full, m.index))
            m = Method(
                klass, mname, mindex,
                synchronous=me.get("synchronous") == "1",
                content=me.get("content") == "1",
                responses=[r.get("name") for r in me.findall("response")],
                chassis=sorted({ch.get("name") for ch in me.findall("chassis")}),
                fields=[self._raw_field(fe) for fe in me.findall("field")],
            )
            klass.methods.append(m)

    @staticmethod
    def _raw_field(fe):
        # (name, domain-or-None, type-or-None, reserved, field-level asserts)
        asserts = [Spec._assert_text(a) for a in fe.findall("assert")]
        return (fe.get("name"), fe.get("domain"), fe.get("type"), fe.get("reserved") == "1", asserts)

    def _resolve(self, raw, where):
        name, domain, wire, reserved, asserts = raw
        if (domain is None) == (wire is None):
            raise SpecError("%s.%s: exactly one of domain= and type= expected" % (where, name))
        all_asserts = list(asserts)
        if domain is not None:
            # Follow domain -> type until a domain names itself (<domain
            # name="octet" type="octet"/>) or a primitive that is no domain.
            seen = set()
            wire = domain
            while wire in self.domains:
                if wire in seen:
                    raise SpecError("%s.%s: domain loop at %s" % (where, name, wire))
                seen.add(wire)
                all_asserts = self.domain_asserts[wire] + all_asserts
                if self.domains[wire] == wire:
                    break
                wire = self.domains[wire]
        if wire not in PRIMITIVES:
            raise SpecError("%s.%s: unknown type %s" % (where, name, wire))
        # keep order, drop duplicates
        uniq = []
        for a in all_asserts:
            if a not in uniq:
                uniq.append(a)
        return Field(name, wire, domain, reserved, uniq)

    def finish(self):
        for k in self.classes:
            props = []
            for raw in k.props:
                f = self._resolve(raw, k.name)
                new = PROPERTY_RENAMES.get((k.name, f.name))
                if new:
                    f.name, f.cname = new, c_ident(new)
                props.append(f)
            k.props = props
            for m in k.methods:
                m.fields = [self._resolve(raw, m.full) for raw in m.fields]
        self.classes.sort(key=lambda k: k.index)
        for k in self.classes:
            k.methods.sort(key=lambda m: m.index)
        self._validate()

    def _validate(self):
        if self.port is None:
            raise SpecError("no port= attribute on <amqp>")
        macros = {}

        def claim(macro, what):
            if macro in macros:
                raise SpecError("name clash: %s for both %s and %s" % (macro, macros[macro], what))
            macros[macro] = what

        for c in self.constants:
            claim(c.macro, "constant " + c.name)
            if c.is_reply_code and not 0 < c.value < 1000:
                raise SpecError("reply code %s=%d out of range" % (c.name, c.value))
        for k in self.classes:
            claim(k.macro, "class " + k.name)
            if not 0 < k.index < 65536:
                raise SpecError("class %s index out of range" % k.name)
            for m in k.methods:
                claim(m.macro, "method " + m.full)
                if not 0 < m.index < 65536:
                    raise SpecError("%s index out of range" % m.full)
                for r in m.responses:
                    if not any(x.name == r for x in k.methods):
                        raise SpecError("%s: unknown response %s" % (m.full, r))
                names = [f.cname for f in m.data_fields]
                if len(set(names)) != len(names) or "unused_" in names:
                    raise SpecError("%s: duplicate field names" % m.full)
        members = [m.member for m in self.methods()]
        if len(set(members)) != len(members):
            raise SpecError("duplicate union member names")
        props = self.props()
        if len(props) > 14:
            raise SpecError("more than 14 basic properties need a second flag word")

    # ---- queries ----

    def methods(self):
        return [m for k in self.classes for m in k.methods]

    def method(self, klass, name):
        return next(m for m in klass.methods if m.name == name)

    def props(self):
        k = next((k for k in self.classes if k.name == PROP_CLASS), None)
        if k is None or not k.props:
            raise SpecError("class %s has no properties" % PROP_CLASS)
        return k.props

    def reply_codes(self):
        return [c for c in self.constants if c.is_reply_code]


# ---------------------------------------------------------------------------
# emit helpers

class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, text=""):
        self.lines.extend(text.split("\n") if text else [""])

    def text(self):
        s = "\n".join(self.lines).rstrip("\n") + "\n"
        return s


def banner(spec, what):
    gen = textwrap.wrap("Generated by tools/codegen.py from %s; do not edit."
                        % " and ".join(spec.sources), 90,
                        break_on_hyphens=False, break_long_words=False)
    lines = gen + [""] + what
    return (
        "/* SPDX-License-Identifier: MIT */\n"
        "/*\n"
        "%s"
        " */" % "".join(" * %s\n" % l if l else " *\n" for l in lines)
    )


def comment_safe(s):
    return s.replace("*/", "* /")


def prop_macro(f):
    return "SPEC_PROP_" + upper(f.name)


def prop_bit(i):
    return 1 << (15 - i)


# ---------------------------------------------------------------------------
# amqp/spec_gen.h

def gen_header(spec):
    o = Out()
    o(banner(spec, [
        "spec_gen: the AMQP 0-9-1 method and content-header codec (STYLE.md section 7).",
        "",
        "Decoding never allocates: shortstr, longstr and table fields are struct view",
        "values borrowing the caller's bytes, valid as long as those bytes are. Tables",
        "are views of the contents after their 4-byte length prefix and have passed",
        "table_check(). Encoding writes into a buffer the caller sized with",
        "spec_method_size() / spec_props_size().",
        "",
        "Representation:",
        "- Reserved fields (reserved=\"1\" in the XML) are not struct members. The",
        "  decoder bounds-checks and skips them; the encoder writes 0 or an empty",
        "  string. A struct round trip is exact; a byte round trip is exact whenever",
        "  the reserved fields were zero/empty, as the spec requires of senders.",
        "- A method without ordinary fields has a struct whose only member is",
        "  `char unused_`, which the codec neither reads nor writes.",
        "- Consecutive bit fields share one octet, least significant bit first.",
        "- The basic property flag word: bits 15..2 are the 14 properties in XML",
        "  order; bit 1 is unassigned and bit 0 is the continuation bit. Decoding",
        "  rejects either with SPEC_ERR_FLAGS (reply 502): no 0-9-1 peer sets them,",
        "  and RabbitMQ supports only one flag word too.",
    ]))
    o("#ifndef AMQP_SPEC_GEN_H")
    o("#define AMQP_SPEC_GEN_H")
    o()
    o("#include <stdbool.h>")
    o("#include <stddef.h>")
    o("#include <stdint.h>")
    o()
    o('#include "broker/util.h"')
    o()
    o("/* ---- protocol constants ---- */")
    o()
    o("#define SPEC_VERSION_MAJOR %d" % spec.version[0])
    o("#define SPEC_VERSION_MINOR %d" % spec.version[1])
    o("#define SPEC_VERSION_REVISION %d" % spec.version[2])
    o("#define SPEC_PORT %d" % spec.port)
    for c in spec.constants:
        if not c.is_reply_code:
            o("#define %s %d" % (c.macro, c.value))
    o()
    o("/* ---- reply codes: soft errors close the channel, hard ones the connection ---- */")
    o()
    for c in spec.reply_codes():
        kind = {"hard-error": "hard (connection)", "soft-error": "soft (channel)"}.get(c.cls, "not an error")
        o("#define %s %d /* %s */" % (c.macro, c.value, kind))
    o()
    o("/* ---- class ids ---- */")
    o()
    for k in spec.classes:
        o("#define %s %d" % (k.macro, k.index))
    o()
    o("/* ---- method ids: class-id << 16 | method-id ---- */")
    o()
    for m in spec.methods():
        o("#define %s ((uint32_t)0x%08X) /* %s */" % (m.macro, m.id, m.full))
    o()
    o("/** Class id of a method id. */")
    o("#define SPEC_CLASS_OF(id) ((uint16_t)((id) >> 16))")
    o("/** Method index within its class of a method id. */")
    o("#define SPEC_INDEX_OF(id) ((uint16_t)((id)&0xFFFFu))")
    o()
    o("/* ---- decoder status ---- */")
    o()
    o("enum spec_status {")
    o("    SPEC_OK = 0,")
    o("    SPEC_ERR_SHORT = -1,    /* truncated, or a length beyond the remaining bytes */")
    o("    SPEC_ERR_TRAILING = -2, /* bytes left after the last argument */")
    o("    SPEC_ERR_TABLE = -3,    /* a field table failed table_check() */")
    o("    SPEC_ERR_UNKNOWN = -4,  /* unknown class or method id */")
    o("    SPEC_ERR_FLAGS = -5,    /* property flag bit 1 or 0 (continuation) set */")
    o("};")
    o()
    o("/* ---- method arguments ---- */")
    o()
    for m in spec.methods():
        reserved = ["%s (%s)" % (f.name, f.wire) for f in m.fields if f.reserved]
        o("/* %s%s */" % (m.full, "; reserved, not stored: " + ", ".join(reserved) if reserved else ""))
        o("struct %s {" % m.struct)
        if not m.data_fields:
            o("    char unused_;")
        for f in m.data_fields:
            note = [f.wire if f.domain is None else f.domain]
            note += f.asserts
            o("    %s %s; /* %s */" % (f.ctype, f.cname, comment_safe(", ".join(note))))
        o("};")
        o()
    o("/** A decoded method: id is one of the SPEC_<CLASS>_<METHOD> constants. */")
    o("struct spec_method {")
    o("    uint32_t id;")
    o("    union {")
    for m in spec.methods():
        o("        struct %s %s;" % (m.struct, m.member))
    o("    } u;")
    o("};")
    o()
    props = spec.props()
    o("/* ---- basic content-header properties ---- */")
    o()
    for i, f in enumerate(props):
        o("#define %s 0x%04X" % (prop_macro(f), prop_bit(i)))
    used = 0
    for i in range(len(props)):
        used |= prop_bit(i)
    o("/** Every assigned property bit. */")
    o("#define SPEC_PROP_ALL 0x%04X" % used)
    o("/** Bit 0 is the continuation bit; bit 1 is unassigned. Both are rejected. */")
    o("#define SPEC_PROP_RESERVED_BITS 0x%04X" % (0xFFFF & ~used))
    o()
    o("/** Basic properties; a field is meaningful only when its flag is set in flags. */")
    o("struct spec_basic_props {")
    o("    uint16_t flags; /* SPEC_PROP_* */")
    for f in props:
        o("    %s %s;" % (f.ctype, f.cname))
    o("};")
    o()
    o("/* ---- metadata ---- */")
    o()
    o("struct spec_method_info {")
    o("    uint32_t id;")
    o("    const char *name;     /* \"basic.publish\" */")
    o("    bool synchronous;     /* expects a response (or is one) */")
    o("    bool content;         /* followed by a content header and body frames */")
    o("    uint32_t response;    /* id of the first <response>, 0 if none */")
    o("    bool server_receives; /* <chassis name=\"server\">: clients may send it */")
    o("    bool client_receives; /* <chassis name=\"client\">: servers may send it */")
    o("};")
    o()
    o("""/* ---- functions ---- */

/**
 * Decodes a method frame payload: class-id, method-id, arguments.
 * p/n are borrowed; string and table views in *m point into p and live as long
 * as p does. Never allocates. Returns SPEC_OK, or SPEC_ERR_SHORT (truncated, or
 * a length beyond the remaining bytes), SPEC_ERR_TRAILING, SPEC_ERR_TABLE or
 * SPEC_ERR_UNKNOWN. *m is zeroed first, and m->id is set whenever n >= 4, even
 * on error, so the caller can report the failing class and method.
 */
int spec_decode_method(const uint8_t *p, size_t n, struct spec_method *m);

/**
 * Exact encoded size of m, including the 4 id bytes. m->id must be a known
 * method (asserted; returns 0 otherwise).
 */
size_t spec_method_size(const struct spec_method *m);

/**
 * Writes m to buf, which must hold spec_method_size(m) bytes, and returns the
 * number written (that size). Reserved fields are written as 0 / empty.
 * Asserts (programmer errors, callers validate): a known id, every shortstr at
 * most 255 bytes, every longstr and table below 4 GiB. Borrows m.
 */
size_t spec_encode_method(const struct spec_method *m, uint8_t *buf);

/**
 * Decodes basic content-header properties. p starts at the 16-bit property
 * flag word (after class-id, weight and body-size) and n runs to the end of
 * the header payload. Views borrow p. Never allocates. Returns SPEC_OK,
 * SPEC_ERR_FLAGS (continuation bit or bit 1 set), SPEC_ERR_SHORT,
 * SPEC_ERR_TABLE (headers) or SPEC_ERR_TRAILING. *pr is zeroed first.
 */
int spec_decode_props(const uint8_t *p, size_t n, struct spec_basic_props *pr);

/** Exact encoded size of pr, flag word included. Only flagged fields count. */
size_t spec_props_size(const struct spec_basic_props *pr);

/**
 * Writes the flag word and the flagged fields to buf (spec_props_size(pr)
 * bytes) and returns the number written. Asserts that no reserved flag bit is
 * set and that flagged shortstrs are at most 255 bytes. Borrows pr.
 */
size_t spec_encode_props(const struct spec_basic_props *pr, uint8_t *buf);

/** Reply code for a decoder status: 502 SYNTAX_ERROR for malformed input,
 * 540 NOT_IMPLEMENTED for SPEC_ERR_UNKNOWN, 200 for SPEC_OK, 541 otherwise. */
uint16_t spec_status_reply_code(int status);

/** Static description of a decoder status; never NULL. */
const char *spec_status_text(int status);

/** True when code is a hard (connection) error in the XML, or unknown. */
bool spec_reply_is_hard(uint16_t code);

/** Static upper-snake name ("NOT_FOUND"), or NULL for an unknown code. */
const char *spec_reply_name(uint16_t code);

/** Static metadata for a method id, or NULL when the id is unknown. */
const struct spec_method_info *spec_method_info(uint32_t id);

/** Static "class.method" name, or "unknown"; never NULL. */
const char *spec_method_name(uint32_t id);
""")
    o("#endif")
    return o.text()


# ---------------------------------------------------------------------------
# amqp/spec_gen.c

READERS = {
    "octet": "rd_u8",
    "short": "rd_u16",
    "long": "rd_u32",
    "longlong": "rd_u64",
    "timestamp": "rd_u64",
    "shortstr": "rd_shortstr",
    "longstr": "rd_longstr",
    "table": "rd_table",
}

WRITERS = {
    "octet": "wr_u8",
    "short": "wr_u16",
    "long": "wr_u32",
    "longlong": "wr_u64",
    "timestamp": "wr_u64",
    "shortstr": "wr_shortstr",
    "longstr": "wr_longstr",
    "table": "wr_longstr",
}

ZERO = {
    "octet": "0",
    "short": "0",
    "long": "0",
    "longlong": "0",
    "timestamp": "0",
    "shortstr": "empty_view",
    "longstr": "empty_view",
    "table": "empty_view",
}

FIXED = {"octet": 1, "short": 2, "long": 4, "longlong": 8, "timestamp": 8,
         "shortstr": 1, "longstr": 4, "table": 4}


def size_expr(fixed, parts):
    terms = ["%d" % fixed] if fixed or not parts else []
    return " + ".join(terms + parts)


C_HELPERS = r"""
/* ---- reading ----
 * A cursor over the bytes not yet decoded. Every length taken from the wire is
 * compared with r->n, the bytes that remain, and never added to an offset, so
 * a hostile 32-bit length cannot wrap around (rabbitmq-c 903b6b5, 1bb1b9b).
 * A NULL destination skips the value (reserved fields). */
struct rd {
    const uint8_t *p;
    size_t n;
};

static int rd_bytes(struct rd *r, size_t len, struct view *v)
{
    if (r->n < len)
        return SPEC_ERR_SHORT;
    if (v) {
        v->p = r->p;
        v->n = len;
    }
    r->p += len;
    r->n -= len;
    return SPEC_OK;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
    if (r->n < 1)
        return SPEC_ERR_SHORT;
    if (v)
        *v = r->p[0];
    r->p += 1;
    r->n -= 1;
    return SPEC_OK;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
    if (r->n < 2)
        return SPEC_ERR_SHORT;
    if (v)
        *v = get_be16(r->p);
    r->p += 2;
    r->n -= 2;
    return SPEC_OK;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
    if (r->n < 4)
        return SPEC_ERR_SHORT;
    if (v)
        *v = get_be32(r->p);
    r->p += 4;
    r->n -= 4;
    return SPEC_OK;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
    if (r->n < 8)
        return SPEC_ERR_SHORT;
    if (v)
        *v = get_be64(r->p);
    r->p += 8;
    r->n -= 8;
    return SPEC_OK;
}

static int rd_shortstr(struct rd *r, struct view *v)
{
    uint8_t len;
    int rc = rd_u8(r, &len);

    if (rc < 0)
        return rc;
    return rd_bytes(r, len, v);
}

static int rd_longstr(struct rd *r, struct view *v)
{
    uint32_t len;
    int rc = rd_u32(r, &len);

    if (rc < 0)
        return rc;
    return rd_bytes(r, len, v);
}

/* Tables are validated whole here, once, so handlers can look keys up lazily
 * without re-checking bounds (amqp/table.h). Reserved tables are checked too:
 * a malformed one is still a syntax error. */
static int rd_table(struct rd *r, struct view *v)
{
    struct view t;
    int rc = rd_longstr(r, &t);

    if (rc < 0)
        return rc;
    if (table_check(t) != 0)
        return SPEC_ERR_TABLE;
    if (v)
        *v = t;
    return SPEC_OK;
}

static int rd_end(const struct rd *r)
{
    return r->n == 0 ? SPEC_OK : SPEC_ERR_TRAILING;
}

/* ---- writing ----
 * The caller sized buf with the matching *_size function, so writers only
 * assert what the types cannot express (STYLE.md section 6). */
static uint8_t *wr_u8(uint8_t *p, uint8_t v)
{
    p[0] = v;
    return p + 1;
}

static uint8_t *wr_u16(uint8_t *p, uint16_t v)
{
    put_be16(p, v);
    return p + 2;
}

static uint8_t *wr_u32(uint8_t *p, uint32_t v)
{
    put_be32(p, v);
    return p + 4;
}

static uint8_t *wr_u64(uint8_t *p, uint64_t v)
{
    put_be64(p, v);
    return p + 8;
}

static uint8_t *wr_shortstr(uint8_t *p, struct view v)
{
    assert(v.n <= 255);
    p[0] = (uint8_t)v.n;
    if (v.n)
        memcpy(p + 1, v.p, v.n);
    return p + 1 + v.n;
}

static uint8_t *wr_longstr(uint8_t *p, struct view v)
{
    assert((uint64_t)v.n <= UINT32_MAX);
    put_be32(p, (uint32_t)v.n);
    if (v.n)
        memcpy(p + 4, v.p, v.n);
    return p + 4 + v.n;
}
"""


def gen_source(spec):
    o = Out()
    o(banner(spec, [
        "spec_gen: see amqp/spec_gen.h. Per method: dec_*() reads the arguments",
        "after the 4 id bytes, size_*() counts them and enc_*() writes them.",
    ]))
    o('#include "amqp/spec_gen.h"')
    o()
    o("#include <assert.h>")
    o("#include <stdlib.h>")
    o("#include <string.h>")
    o()
    o('#include "amqp/table.h"')
    o('#include "broker/util.h"')
    o(C_HELPERS)

    need_empty = any(f.reserved and f.wire in ("shortstr", "longstr", "table")
                     for m in spec.methods() for f in m.fields)
    if need_empty:
        o("static const struct view empty_view = {NULL, 0};")
        o()

    o("/* ---- per-method codecs ---- */")
    o()
    for m in spec.methods():
        gen_method_codec(o, m)

    o("/* ---- public method codec ---- */")
    o()
    o("int spec_decode_method(const uint8_t *p, size_t n, struct spec_method *m)")
    o("{")
    o("    struct rd r;")
    o()
    o("    memset(m, 0, sizeof(*m));")
    o("    if (n < 4)")
    o("        return SPEC_ERR_SHORT;")
    o("    m->id = get_be32(p);")
    o("    r.p = p + 4;")
    o("    r.n = n - 4;")
    o("    switch (m->id) {")
    for m in spec.methods():
        o("    case %s:" % m.macro)
        o("        return dec_%s(&r, &m->u.%s);" % (m.member, m.member))
    o("    default:")
    o("        return SPEC_ERR_UNKNOWN;")
    o("    }")
    o("}")
    o()
    o("size_t spec_method_size(const struct spec_method *m)")
    o("{")
    o("    switch (m->id) {")
    for m in spec.methods():
        o("    case %s:" % m.macro)
        o("        return 4 + size_%s(&m->u.%s);" % (m.member, m.member))
    o("    default:")
    o('        assert(0 && "spec_method_size: unknown method id");')
    o("        return 0;")
    o("    }")
    o("}")
    o()
    o("size_t spec_encode_method(const struct spec_method *m, uint8_t *buf)")
    o("{")
    o("    uint8_t *end;")
    o()
    o("    switch (m->id) {")
    for m in spec.methods():
        o("    case %s:" % m.macro)
        o("        end = enc_%s(buf + 4, &m->u.%s);" % (m.member, m.member))
        o("        break;")
    o("    default:")
    o('        assert(0 && "spec_encode_method: unknown method id");')
    o("        return 0;")
    o("    }")
    o("    put_be32(buf, m->id);")
    o("    return (size_t)(end - buf);")
    o("}")
    o()

    gen_props_codec(o, spec)
    gen_tables(o, spec)
    return o.text()


def gen_method_codec(o, m):
    unused = "    (void)a;" if not m.data_fields else None
    # decoder
    o("static int dec_%s(struct rd *r, struct %s *a)" % (m.member, m.struct))
    o("{")
    any_data_bits = bool(m.data_bits)
    if any_data_bits:
        o("    uint8_t bits;")
    if m.fields:
        o("    int rc;")
        o()
    if unused:
        o(unused)
    for kind, x in m.items():
        if kind == "field":
            dst = "NULL" if x.reserved else "&a->%s" % x.cname
            o("    if ((rc = %s(r, %s)) < 0)" % (READERS[x.wire], dst))
            o("        return rc;")
        else:
            data = [f for f in x if not f.reserved]
            o("    if ((rc = rd_u8(r, %s)) < 0)" % ("&bits" if data else "NULL"))
            o("        return rc;")
            for i, f in enumerate(x):
                if not f.reserved:
                    o("    a->%s = (bits & 0x%02X) != 0;" % (f.cname, 1 << i))
    o("    return rd_end(r);")
    o("}")
    o()
    # size
    o("static size_t size_%s(const struct %s *a)" % (m.member, m.struct))
    o("{")
    fixed = 0
    parts = []
    for kind, x in m.items():
        if kind == "bits":
            fixed += 1
            continue
        fixed += FIXED[x.wire]
        if x.wire in ("shortstr", "longstr", "table") and not x.reserved:
            parts.append("a->%s.n" % x.cname)
    if not parts:
        o("    (void)a;")
    o("    return %s;" % size_expr(fixed, parts))
    o("}")
    o()
    # encoder
    o("static uint8_t *enc_%s(uint8_t *p, const struct %s *a)" % (m.member, m.struct))
    o("{")
    if unused:
        o(unused)
    for kind, x in m.items():
        if kind == "field":
            w = WRITERS[x.wire]
            val = ZERO[x.wire] if x.reserved else "a->%s" % x.cname
            o("    p = %s(p, %s);" % (w, val))
        else:
            terms = ["(a->%s ? 0x%02Xu : 0u)" % (f.cname, 1 << i)
                     for i, f in enumerate(x) if not f.reserved]
            o("    p = wr_u8(p, (uint8_t)(%s));" % (" | ".join(terms) if terms else "0"))
    o("    return p;")
    o("}")
    o()


def gen_props_codec(o, spec):
    props = spec.props()
    o("/* ---- basic properties (section 4.2.6.1: one flag word, then the set fields) ---- */")
    o()
    o("int spec_decode_props(const uint8_t *p, size_t n, struct spec_basic_props *pr)")
    o("{")
    o("    struct rd r = {p, n};")
    o("    uint16_t flags;")
    o("    int rc;")
    o()
    o("    memset(pr, 0, sizeof(*pr));")
    o("    if ((rc = rd_u16(&r, &flags)) < 0)")
    o("        return rc;")
    o("    /* Bit 0 would announce a second flag word for properties that 0-9-1")
    o("     * does not define; bit 1 is unassigned. See spec_gen.h. */")
    o("    if (flags & SPEC_PROP_RESERVED_BITS)")
    o("        return SPEC_ERR_FLAGS;")
    o("    pr->flags = flags;")
    for f in props:
        o("    if (flags & %s) {" % prop_macro(f))
        o("        if ((rc = %s(&r, &pr->%s)) < 0)" % (READERS[f.wire], f.cname))
        o("            return rc;")
        o("    }")
    o("    return rd_end(&r);")
    o("}")
    o()
    o("size_t spec_props_size(const struct spec_basic_props *pr)")
    o("{")
    o("    size_t n = 2;")
    o()
    for f in props:
        o("    if (pr->flags & %s)" % prop_macro(f))
        extra = " + pr->%s.n" % f.cname if f.wire in ("shortstr", "longstr", "table") else ""
        o("        n += %d%s;" % (FIXED[f.wire], extra))
    o("    return n;")
    o("}")
    o()
    o("size_t spec_encode_props(const struct spec_basic_props *pr, uint8_t *buf)")
    o("{")
    o("    uint8_t *p = buf;")
    o()
    o("    assert((pr->flags & SPEC_PROP_RESERVED_BITS) == 0);")
    o("    p = wr_u16(p, pr->flags);")
    for f in props:
        o("    if (pr->flags & %s)" % prop_macro(f))
        o("        p = %s(p, pr->%s);" % (WRITERS[f.wire], f.cname))
    o("    return (size_t)(p - buf);")
    o("}")
    o()


def gen_tables(o, spec):
    o("/* ---- reply codes ---- */")
    o()
    o("uint16_t spec_status_reply_code(int status)")
    o("{")
    o("    switch (status) {")
    o("    case SPEC_OK:")
    o("        return SPEC_REPLY_SUCCESS;")
    o("    /* RabbitMQ answers arguments it cannot decode (short, or with bytes")
    o("     * left over) with 501 FRAME_ERROR; a bad table tag or property flag")
    o("     * word is a 502 SYNTAX_ERROR here (RabbitMQ just drops the socket). */")
    o("    case SPEC_ERR_SHORT:")
    o("    case SPEC_ERR_TRAILING:")
    o("        return SPEC_FRAME_ERROR;")
    o("    case SPEC_ERR_TABLE:")
    o("    case SPEC_ERR_FLAGS:")
    o("        return SPEC_SYNTAX_ERROR;")
    o("    case SPEC_ERR_UNKNOWN:")
    o("        return SPEC_NOT_IMPLEMENTED;")
    o("    default:")
    o("        return SPEC_INTERNAL_ERROR;")
    o("    }")
    o("}")
    o()
    o("const char *spec_status_text(int status)")
    o("{")
    o("    switch (status) {")
    for st, text in (("SPEC_OK", "ok"),
                     ("SPEC_ERR_SHORT", "truncated arguments"),
                     ("SPEC_ERR_TRAILING", "unexpected bytes after the last argument"),
                     ("SPEC_ERR_TABLE", "malformed field table"),
                     ("SPEC_ERR_UNKNOWN", "unknown class or method"),
                     ("SPEC_ERR_FLAGS", "unsupported property flag bits")):
        o("    case %s:" % st)
        o('        return "%s";' % text)
    o("    default:")
    o('        return "unknown decoder status";')
    o("    }")
    o("}")
    o()
    o("bool spec_reply_is_hard(uint16_t code)")
    o("{")
    o("    switch (code) {")
    for c in spec.reply_codes():
        if c.cls != "hard-error":
            o("    case %s:" % c.macro)
    o("        return false;")
    o("    default:")
    o("        return true;")
    o("    }")
    o("}")
    o()
    o("const char *spec_reply_name(uint16_t code)")
    o("{")
    o("    switch (code) {")
    for c in spec.reply_codes():
        o("    case %s:" % c.macro)
        o('        return "%s";' % upper(c.name))
    o("    default:")
    o("        return NULL;")
    o("    }")
    o("}")
    o()
    o("/* ---- method metadata, sorted by id for bsearch ---- */")
    o()
    o("static const struct spec_method_info method_infos[] = {")
    o("    /* id, name, synchronous, content, response, server_receives, client_receives */")
    methods = sorted(spec.methods(), key=lambda m: m.id)
    for m in methods:
        resp = spec.method(m.klass, m.responses[0]).macro if m.responses else "0"
        o("    {%s, \"%s\", %s, %s, %s, %s, %s}," % (
            m.macro, m.full, cbool(m.synchronous), cbool(m.content), resp,
            cbool(m.server_receives), cbool(m.client_receives)))
    o("};")
    o()
    o("static int info_cmp(const void *key, const void *elem)")
    o("{")
    o("    uint32_t id = *(const uint32_t *)key;")
    o("    uint32_t e = ((const struct spec_method_info *)elem)->id;")
    o()
    o("    return id < e ? -1 : id > e;")
    o("}")
    o()
    o("const struct spec_method_info *spec_method_info(uint32_t id)")
    o("{")
    o("    return bsearch(&id, method_infos, ARRAY_LEN(method_infos), sizeof(method_infos[0]),")
    o("                   info_cmp);")
    o("}")
    o()
    o("const char *spec_method_name(uint32_t id)")
    o("{")
    o("    const struct spec_method_info *info = spec_method_info(id);")
    o()
    o('    return info ? info->name : "unknown";')
    o("}")


def cbool(b):
    return "true" if b else "false"


# ---------------------------------------------------------------------------
# broker/handlers_gen.h and broker/dispatch_gen.c

def handler_target(m):
    if m.klass.name == "connection":
        return "struct conn *c", "c"
    return "struct chan *ch", "ch"


def gen_handlers_h(spec):
    o = Out()
    o(banner(spec, [
        "handlers_gen: one handler per method the server receives (<chassis",
        "name=\"server\">). Handlers live in broker/handle_<class>.c; a missing one is",
        "a link error. Each borrows its arguments (views valid until it returns),",
        "returns 0, or -1 after filling err with code and text (STYLE.md section 6).",
        "Connection-class handlers get the connection; all others get the channel.",
    ]))
    o("#ifndef BROKER_HANDLERS_GEN_H")
    o("#define BROKER_HANDLERS_GEN_H")
    o()
    o('#include "amqp/spec_gen.h"')
    o()
    o("struct conn;")
    o("struct chan;")
    o("struct proto_err;")
    o()
    for m in spec.methods():
        if not m.server_receives:
            continue
        target, _ = handler_target(m)
        o("int handle_%s(%s, const struct %s *a, struct proto_err *err);" % (m.member, target, m.struct))
    o()
    o("/**")
    o(" * Calls the handler of a connection-class method received on channel 0.")
    o(" * Methods the server never receives, and methods of other classes, fail with")
    o(" * 503 COMMAND_INVALID; an unknown id fails with 540 NOT_IMPLEMENTED.")
    o(" * Returns the handler's result, or -1 with err filled in.")
    o(" */")
    o("int dispatch_connection(struct conn *c, const struct spec_method *m, struct proto_err *err);")
    o()
    o("/**")
    o(" * Calls the handler of a method received on a channel other than 0.")
    o(" * Connection-class methods and methods the server never receives fail with")
    o(" * 503 COMMAND_INVALID; an unknown id fails with 540 NOT_IMPLEMENTED.")
    o(" * Returns the handler's result, or -1 with err filled in.")
    o(" */")
    o("int dispatch_channel(struct chan *ch, const struct spec_method *m, struct proto_err *err);")
    o()
    o("#endif")
    return o.text()


def gen_dispatch_c(spec):
    o = Out()
    o(banner(spec, ["dispatch_gen: method id -> typed handler. See broker/handlers_gen.h."]))
    o('#include "broker/handlers_gen.h"')
    o()
    o('#include "amqp/spec_gen.h"')
    o('#include "broker/err.h"')
    o()
    o("static int not_accepted(uint32_t id, struct proto_err *err)")
    o("{")
    o('    return err_set(err, SPEC_COMMAND_INVALID, "%s is not accepted by the server",')
    o("                   spec_method_name(id));")
    o("}")
    o()
    o("static int unknown_method(uint32_t id, struct proto_err *err)")
    o("{")
    o('    return err_set(err, SPEC_NOT_IMPLEMENTED, "unknown method %u.%u",')
    o("                   (unsigned)SPEC_CLASS_OF(id), (unsigned)SPEC_INDEX_OF(id));")
    o("}")
    o()
    for fn, target, on_conn in (("dispatch_connection", "struct conn *c", True),
                                ("dispatch_channel", "struct chan *ch", False)):
        arg = "c" if on_conn else "ch"
        o("int %s(%s, const struct spec_method *m, struct proto_err *err)" % (fn, target))
        o("{")
        o("    switch (m->id) {")
        rejected = []
        for m in spec.methods():
            if (m.klass.name == "connection") != on_conn:
                continue
            if m.server_receives:
                o("    case %s:" % m.macro)
                o("        return handle_%s(%s, &m->u.%s, err);" % (m.member, arg, m.member))
            else:
                rejected.append(m)
        for m in rejected:
            o("    case %s:" % m.macro)
        if rejected:
            o("        return not_accepted(m->id, err);")
        o("    default:")
        o("        if (!spec_method_info(m->id))")
        o("            return unknown_method(m->id, err);")
        if on_conn:
            o("        /* section 4.2.3: channel 0 carries only connection-class methods */")
            o('        return err_set(err, SPEC_COMMAND_INVALID, "%s is not allowed on channel 0",')
        else:
            o("        /* section 4.2.3: connection-class methods belong on channel 0 */")
            o('        return err_set(err, SPEC_COMMAND_INVALID, "%s is only allowed on channel 0",')
        o("                       spec_method_name(m->id));")
        o("    }")
        o("}")
        o()
    return o.text()


# ---------------------------------------------------------------------------
# tests/unit/test_spec_roundtrip.c

SHORT_LENS = [0, 1, 7, 255, 31, 128, 3, 254, 12]
LONG_LENS = [0, 5, 300, 1, 70, 1000]
POOL = 4096


class Values:
    """Deterministic, varied test values: a counter drives every choice."""

    def __init__(self):
        self.k = 0

    def next(self, wire):
        k = self.k
        self.k += 1
        if wire == "octet":
            return "(uint8_t)0x%02Xu" % ((0xA5 + 37 * k) & 0xFF)
        if wire == "short":
            return "(uint16_t)0x%04Xu" % ((0x1234 + 0x0F1F * k) & 0xFFFF)
        if wire == "long":
            return "0x%08Xu" % ((0x89ABCDEF + 0x01F3A5C7 * k) & 0xFFFFFFFF)
        if wire in ("longlong", "timestamp"):
            return "UINT64_C(0x%016X)" % ((0xFEDCBA9876543210 + 0x0123456789ABCDEF * k) & (2**64 - 1))
        if wire == "shortstr":
            n = SHORT_LENS[k % len(SHORT_LENS)]
            return "pool_view(%d, %d)" % ((k * 53) % (POOL - 256), n)
        if wire == "longstr":
            n = LONG_LENS[k % len(LONG_LENS)]
            return "pool_view(%d, %d)" % ((k * 97) % (POOL - 1024), n)
        if wire == "table":
            return ["table_empty()", "table_one()", "table_two()"][k % 3]
        raise SpecError("no test value for " + wire)


def gen_roundtrip_test(spec):
    vals = Values()
    o = Out()
    o(banner(spec, [
        "test_spec_roundtrip: for every method, fill the argument struct with",
        "deterministic values (every combination of its bits), encode, decode and",
        "compare; decode every truncation (must be SPEC_ERR_SHORT, read through an",
        "exactly-sized copy so sanitizers catch over-reads) and one trailing byte",
        "(SPEC_ERR_TRAILING). Then the same for the basic properties.",
    ]))
    o("#include <setjmp.h>")
    o("#include <stdarg.h>")
    o("#include <stddef.h>")
    o("#include <stdint.h>")
    o("#include <stdlib.h>")
    o("#include <string.h>")
    o()
    o("#include <cmocka.h>")
    o()
    o('#include "amqp/spec_gen.h"')
    o('#include "broker/util.h"')
    o()
    o("static uint8_t pool[%d];" % POOL)
    o()
    o("static struct view pool_view(size_t off, size_t n)")
    o("{")
    o("    return (struct view){pool + off, n};")
    o("}")
    o()
    o("/* Table contents (after the length prefix) with valid entries. */")
    o("static const uint8_t table_bytes[] = \"\\x03\" \"keyS\\x00\\x00\\x00\\x01\" \"v\"")
    o("                                     \"\\x05\" \"countI\\x00\\x00\\x00\\x2a\";")
    o()
    o("static struct view table_empty(void)")
    o("{")
    o("    return (struct view){table_bytes, 0};")
    o("}")
    o()
    o("static struct view table_one(void)")
    o("{")
    o("    return (struct view){table_bytes, 10};")
    o("}")
    o()
    o("static struct view table_two(void)")
    o("{")
    o("    return (struct view){table_bytes, sizeof(table_bytes) - 1};")
    o("}")
    o()
    o("""typedef void fill_fn(struct spec_method *m, unsigned pat);
typedef void check_fn(const struct spec_method *want, const struct spec_method *got);

static uint8_t *encode(const struct spec_method *m, size_t *n)
{
    uint8_t *buf;

    *n = spec_method_size(m);
    assert_true(*n >= 4);
    buf = malloc(*n);
    assert_non_null(buf);
    assert_int_equal(spec_encode_method(m, buf), *n);
    assert_int_equal(get_be32(buf), m->id);
    return buf;
}

/* Every bit pattern: catches bits that land on a neighbour's position. */
static void roundtrip(fill_fn *fill, check_fn *check, unsigned nbits)
{
    for (unsigned pat = 0; pat < (1u << nbits); pat++) {
        struct spec_method in, out;
        uint8_t *buf;
        size_t n;

        memset(&in, 0, sizeof(in));
        fill(&in, pat);
        buf = encode(&in, &n);
        assert_int_equal(spec_decode_method(buf, n, &out), SPEC_OK);
        assert_int_equal(out.id, in.id);
        check(&in, &out);
        assert_int_equal(spec_method_size(&out), n);
        free(buf);
    }
}

static void truncated(fill_fn *fill, unsigned nbits)
{
    struct spec_method in, out;
    uint8_t *buf, *longer;
    size_t n;

    memset(&in, 0, sizeof(in));
    fill(&in, (1u << nbits) - 1);
    buf = encode(&in, &n);
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = len ? malloc(len) : NULL;

        if (len)
            memcpy(cut, buf, len);
        assert_int_equal(spec_decode_method(cut, len, &out), SPEC_ERR_SHORT);
        free(cut);
    }
    longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, buf, n);
    longer[n] = 0;
    assert_int_equal(spec_decode_method(longer, n + 1, &out), SPEC_ERR_TRAILING);
    free(longer);
    free(buf);
}
""")
    o("/* ---- per-method fill and compare ---- */")
    o()
    tests = []
    for m in spec.methods():
        mem = m.member
        o("static void fill_%s(struct spec_method *m, unsigned pat)" % mem)
        o("{")
        if not m.data_bits:
            o("    (void)pat;")
        o("    m->id = %s;" % m.macro)
        bit = 0
        for f in m.data_fields:
            if f.wire == "bit":
                o("    m->u.%s.%s = (pat & 0x%Xu) != 0;" % (mem, f.cname, 1 << bit))
                bit += 1
            else:
                o("    m->u.%s.%s = %s;" % (mem, f.cname, vals.next(f.wire)))
        o("}")
        o()
        o("static void check_%s(const struct spec_method *want, const struct spec_method *got)" % mem)
        o("{")
        if not m.data_fields:
            o("    (void)want;")
            o("    (void)got;")
        for f in m.data_fields:
            if f.ctype == "struct view":
                o("    assert_true(view_eq(want->u.%s.%s, got->u.%s.%s));" % (mem, f.cname, mem, f.cname))
            else:
                o("    assert_int_equal(want->u.%s.%s, got->u.%s.%s);" % (mem, f.cname, mem, f.cname))
        o("}")
        o()
        nb = len(m.data_bits)
        o("static void test_spec_roundtrip_%s(void **state)" % mem)
        o("{")
        o("    (void)state;")
        o("    roundtrip(fill_%s, check_%s, %d);" % (mem, mem, nb))
        o("}")
        o()
        o("static void test_spec_truncated_%s(void **state)" % mem)
        o("{")
        o("    (void)state;")
        o("    truncated(fill_%s, %d);" % (mem, nb))
        o("}")
        o()
        tests += ["test_spec_roundtrip_" + mem, "test_spec_truncated_" + mem]

    props = spec.props()
    o("/* ---- basic properties ---- */")
    o()
    o("static void fill_props(struct spec_basic_props *pr, uint16_t flags)")
    o("{")
    o("    memset(pr, 0, sizeof(*pr));")
    o("    pr->flags = flags;")
    for f in props:
        o("    if (flags & %s)" % prop_macro(f))
        o("        pr->%s = %s;" % (f.cname, vals.next(f.wire)))
    o("}")
    o()
    o("static void check_props(const struct spec_basic_props *want, const struct spec_basic_props *got)")
    o("{")
    o("    assert_int_equal(want->flags, got->flags);")
    for f in props:
        if f.ctype == "struct view":
            o("    assert_true(view_eq(want->%s, got->%s));" % (f.cname, f.cname))
        else:
            o("    assert_int_equal(want->%s, got->%s);" % (f.cname, f.cname))
    o("}")
    o()
    o("""static void props_roundtrip(uint16_t flags)
{
    struct spec_basic_props in, out;
    uint8_t *buf;
    size_t n;

    fill_props(&in, flags);
    n = spec_props_size(&in);
    buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(spec_encode_props(&in, buf), n);
    assert_int_equal(get_be16(buf), flags);
    assert_int_equal(spec_decode_props(buf, n, &out), SPEC_OK);
    check_props(&in, &out);
    assert_int_equal(spec_props_size(&out), n);
    free(buf);
}

static void test_spec_props_roundtrip_all(void **state)
{
    (void)state;
    props_roundtrip(SPEC_PROP_ALL);
}

static void test_spec_props_roundtrip_none(void **state)
{
    (void)state;
    props_roundtrip(0);
}

static void test_spec_props_roundtrip_each(void **state)
{
    (void)state;
    for (unsigned bit = 2; bit < 16; bit++)
        props_roundtrip((uint16_t)(1u << bit));
}

static void test_spec_props_truncated(void **state)
{
    struct spec_basic_props in, out;
    uint8_t *buf, *longer;
    size_t n;

    (void)state;
    fill_props(&in, SPEC_PROP_ALL);
    n = spec_props_size(&in);
    buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(spec_encode_props(&in, buf), n);
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = len ? malloc(len) : NULL;

        if (len)
            memcpy(cut, buf, len);
        assert_int_equal(spec_decode_props(cut, len, &out), SPEC_ERR_SHORT);
        free(cut);
    }
    longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, buf, n);
    longer[n] = 0;
    assert_int_equal(spec_decode_props(longer, n + 1, &out), SPEC_ERR_TRAILING);
    free(longer);
    free(buf);
}

static int setup_pool(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pool); i++)
        pool[i] = (uint8_t)(i * 31u + 7u);
    return 0;
}
""")
    tests += ["test_spec_props_roundtrip_all", "test_spec_props_roundtrip_none",
              "test_spec_props_roundtrip_each", "test_spec_props_truncated"]
    o("int main(void)")
    o("{")
    o("    const struct CMUnitTest tests[] = {")
    for t in tests:
        o("        cmocka_unit_test(%s)," % t)
    o("    };")
    o()
    o("    return cmocka_run_group_tests(tests, setup_pool, NULL);")
    o("}")
    return o.text()


# ---------------------------------------------------------------------------

def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", required=True, help="amqp0-9-1.stripped.extended.xml")
    ap.add_argument("--extra", action="append", default=[],
                    help="supplement in the same dialect (repeatable)")
    ap.add_argument("--out", default=".", help="repository root to write into")
    args = ap.parse_args(argv)

    spec = Spec()
    try:
        spec.load(args.spec)
        for e in args.extra:
            spec.load(e)
        spec.finish()
        outputs = {
            "amqp/spec_gen.h": gen_header(spec),
            "amqp/spec_gen.c": gen_source(spec),
            "broker/handlers_gen.h": gen_handlers_h(spec),
            "broker/dispatch_gen.c": gen_dispatch_c(spec),
            "tests/unit/test_spec_roundtrip.c": gen_roundtrip_test(spec),
        }
    except SpecError as e:
        print("codegen: %s" % e, file=sys.stderr)
        return 1
    for rel, text in outputs.items():
        write(os.path.join(args.out, rel), text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
