/* SPDX-License-Identifier: MIT */
/*
 * config: the broker's settings, loaded once from config.json.
 *
 * The file is validated strictly against one schema table in config.c:
 * unknown keys, wrong types, out-of-range values, duplicate users or vhosts,
 * permissions naming a missing user or vhost and patterns that do not compile
 * are all fatal. Every key is optional; `{}` gives RabbitMQ's defaults (user
 * guest/guest, tag administrator, vhost "/", full permissions).
 *
 * Errors come back as one line "NAME:LINE:COLUMN: PATH: MESSAGE", for example
 *   config.json:7:18: limits.frame_max: 100 is out of range (4096..1048576)
 *   config.json:3:5: unknown key "listner"
 *   config.json:12:9: users[1].name: duplicate user "guest"
 * where PATH is the JSON path of the value (omitted at the top level), LINE
 * and COLUMN are 1-based and count characters as jansson does, and point at
 * the start of the offending value, or of the key for key errors. JSON syntax
 * errors carry jansson's own position and text. Nothing here logs.
 *
 * struct config is a plain settings record with public fields: a documented
 * exception to the opaque-struct rule (STYLE.md §4) because it is a value
 * loaded once and then read. The record owns every string and array in it.
 * main.c may overwrite scalar fields for command-line overrides; whoever
 * replaces a string frees the old one (or uses config_set_data_dir()).
 */
#ifndef BROKER_CONFIG_H
#define BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/auth.h"

/** log_level values, in order of increasing severity. */
enum config_log_level {
    CONFIG_LOG_DEBUG,
    CONFIG_LOG_INFO,
    CONFIG_LOG_WARNING,
    CONFIG_LOG_ERROR,
};

/** durability.sync values. */
enum config_sync {
    CONFIG_SYNC_FSYNC, /* confirm after write + fdatasync (default) */
    CONFIG_SYNC_WRITE, /* confirm after write, before fdatasync (RabbitMQ classic queues) */
};

/** listeners.tls / listeners.mgmt_tls: verify (RabbitMQ's ssl_options names). */
enum config_verify {
    CONFIG_VERIFY_NONE, /* "verify_none": no client certificate is asked for (default) */
    CONFIG_VERIFY_PEER, /* "verify_peer": asked for, and checked against cacertfile if sent */
};

/**
 * A TLS listener: listeners.tls (AMQP over TLS, "amqps") or listeners.mgmt_tls
 * (the management API over HTTPS). The files are checked at load time: they
 * must be readable regular files, certfile must hold a PEM certificate (then
 * any intermediates), keyfile an unencrypted PEM private key matching it, and
 * cacertfile (required by verify_peer) PEM CA certificates.
 */
struct config_tls {
    bool enabled;              /* the object is in the file */
    uint16_t port;             /* default 5671 (AMQP) / 15671 (management); 0 = off */
    char *certfile;            /* required */
    char *keyfile;             /* required */
    char *cacertfile;          /* NULL when absent */
    enum config_verify verify; /* default CONFIG_VERIFY_NONE */
    bool fail_if_no_peer_cert; /* verify_peer only: refuse clients without a certificate */
};

/** One entry of "users". */
struct config_user {
    char *name;                           /* 1..255 bytes */
    char *password_hash;                  /* RabbitMQ base64 format; "" = no password login */
    enum auth_hash_alg hashing_algorithm; /* default AUTH_HASH_SHA256 */
    char **tags;                          /* n_tags strings, each 1..255 bytes, no duplicates */
    size_t n_tags;
};

/** One entry of "vhosts". */
struct config_vhost {
    char *name; /* 1..255 bytes */
    /* "limits": {"max-connections": N, "max-queues": N}; AUTH_LIMIT_UNSET when
     * absent, negative = no limit (RabbitMQ's vhost limits) */
    int64_t max_connections;
    int64_t max_queues;
};

/** One entry of "permissions"; user and vhost exist, patterns compile. */
struct config_permission {
    char *user;
    char *vhost;
    char *configure; /* POSIX ERE, "" = nothing */
    char *write;
    char *read;
};

struct config {
    char *path; /* file given to config_load(), NULL otherwise */

    /* "listeners" */
    char *address;      /* AMQP listen address, default "0.0.0.0" */
    uint16_t amqp_port; /* 1..65535, default 5672 */
    char *mgmt_address; /* management HTTP listen address, default "127.0.0.1" */
    uint16_t mgmt_port; /* 0 (management disabled)..65535, default 15672 */
    /* Prometheus /metrics on mgmt_address: 0 (off)..65535, default 15692 */
    uint16_t prometheus_port;
    struct config_tls tls;      /* listeners.tls: AMQP over TLS */
    struct config_tls mgmt_tls; /* listeners.mgmt_tls: management over HTTPS */

    char *data_dir;                  /* default "./data", 1..4096 bytes */
    enum config_log_level log_level; /* default CONFIG_LOG_INFO */
    char *log_file;                  /* NULL (default): stderr; reopened on SIGHUP */
    /* Users who may only connect over a loopback interface (RabbitMQ's
     * loopback_users): an array of names, default ["guest"]; [] lets every
     * user connect from anywhere. */
    char **loopback_users;
    size_t n_loopback_users;

    /* "limits" */
    uint32_t frame_max;        /* bytes, 4096..1048576, default 131072 */
    uint16_t channel_max;      /* 1..65535, default 2047 */
    uint16_t heartbeat;        /* seconds, 0 (off)..65535, default 60 */
    uint32_t max_message_size; /* bytes, 1..536870912, default 134217728 */
    uint32_t max_connections;  /* 0 (unlimited)..10000000, default 0 */
    double handshake_timeout;  /* seconds, 1..3600, default 10 */
    uint64_t memory_budget;    /* bytes of queued messages before flow control; 0 = 40% of RAM */
    uint64_t disk_free_limit;  /* free bytes under data_dir below which publishers are blocked;
                                  default 50000000 (RabbitMQ's), 0 = no check */
    /* memory high watermark: a fraction of available memory (0..1, default
     * 0.4), or bytes when vm_memory_high_watermark_absolute is non-zero */
    double vm_memory_high_watermark;
    uint64_t vm_memory_high_watermark_absolute;
    uint32_t consumer_max_per_channel; /* consumers per channel, 0 (unlimited)..10000000 */

    /* "durability" */
    enum config_sync sync; /* when a persistent message counts as stored; default fsync */

    struct config_user *users;
    size_t n_users;
    struct config_vhost *vhosts;
    size_t n_vhosts;
    struct config_permission *permissions;
    size_t n_permissions;
};

/**
 * Reads and validates a config file (at most 16 MiB). Returns a record owned
 * by the caller (config_destroy()), or NULL with a one-line message in errbuf
 * (truncated to errlen) naming path as given, line and column. Plain-text
 * "password" entries are hashed here with a random salt.
 */
struct config *config_load(const char *path, char *errbuf, size_t errlen);

/**
 * Same as config_load() from len bytes of memory (text need not be
 * NUL-terminated, may hold any bytes); name stands for the file in messages.
 * text and name are borrowed (a NULL name reads "(config)"). The result's
 * path is NULL.
 */
struct config *config_parse(const char *text, size_t len, const char *name, char *errbuf,
                            size_t errlen);

/** The defaults, as from "{}". Owned by the caller; never NULL. */
struct config *config_default(void);

/** Frees the record and everything in it. Accepts NULL. */
void config_destroy(struct config *c);

/** Replaces data_dir with a copy of dir (borrowed), freeing the old string. */
void config_set_data_dir(struct config *c, const char *dir);

/** The name of a log level ("debug", "info", "warning", "error"). */
const char *config_log_level_name(enum config_log_level level);

/* ---- locating a JSON path in raw text (also for the management API) ---- */

/** One step of a JSON path: an object key (key != NULL) or an array index. */
struct config_path_step {
    const char *key; /* NUL-terminated, unescaped; NULL for an index step */
    size_t index;
};

/** A 1-based position; columns count UTF-8 characters, like jansson's. */
struct config_pos {
    int line;
    int column;
};

/**
 * Finds where the value at a JSON path starts in text (len bytes, borrowed),
 * or, with at_key and a last step that is a key, where that key's opening
 * quote is. An empty path gives the root value. Returns 0 and fills *pos, or
 * -1 if the path does not exist or the text is not well-formed along the way.
 * Never reads past len; iterative, so deep nesting cannot overflow the stack.
 * Keys are compared after unescaping, and the first of duplicate keys wins.
 */
int config_json_pos(const char *text, size_t len, const struct config_path_step *path, size_t depth,
                    bool at_key, struct config_pos *pos);

#endif
