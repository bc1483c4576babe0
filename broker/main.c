/* SPDX-License-Identifier: MIT */
/* main: command line, configuration, and the loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/auth.h"
#include "broker/config.h"
#include "broker/durable.h"
#include "broker/paging.h"
#include "broker/log.h"
#include "broker/loop.h"
#include "broker/version.h"
#include "broker/publish.h"
#include "broker/vhost.h"
#include "queue/queue.h"
#include "mgmt/mgmt.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: leveret [--config FILE] [--port N] [--mgmt-port N] [--tls-port N]\n"
            "               [--mgmt-tls-port N] [--data-dir DIR]\n"
            "       leveret --hash-password PASSWORD\n"
            "       leveret --help | --version\n"
            "\n"
            "  -c, --config FILE       configuration file (default: config.json)\n"
            "  -p, --port N            AMQP port, overriding listeners.amqp_port\n"
            "  -m, --mgmt-port N       management port, overriding listeners.mgmt_port\n"
            "      --tls-port N        AMQP over TLS port, overriding listeners.tls.port (0: off)\n"
            "      --mgmt-tls-port N   management HTTPS port, overriding listeners.mgmt_tls.port\n"
            "                          (0: off)\n"
            "  -d, --data-dir DIR      data directory, overriding data_dir\n"
            "      --hash-password PW  print a RabbitMQ-format SHA-256 hash of PW for config.json\n"
            "  -h, --help              this text\n"
            "  -V, --version           print the version\n");
}

static int parse_port(const char *opt, const char *s, int min, uint16_t *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < min || v > 65535) {
        fprintf(stderr, "leveret: %s: '%s' is not a port number (%d..65535)\n", opt, s, min);
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/* mkdir -p for the data directory. */
static int make_dirs(const char *path)
{
    char *p = strdup(path);
    int rc = 0;

    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0750) < 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (mkdir(p, 0750) < 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"port", required_argument, NULL, 'p'},
        {"mgmt-port", required_argument, NULL, 'm'},
        {"tls-port", required_argument, NULL, 'T'},
        {"mgmt-tls-port", required_argument, NULL, 'M'},
        {"data-dir", required_argument, NULL, 'd'},
        {"hash-password", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "config.json", *data_dir = NULL;
    uint16_t port = 0, mgmt_port = 0, tls_port = 0, mgmt_tls_port = 0;
    bool have_port = false, have_mgmt = false, have_tls = false, have_mgmt_tls = false;
    struct config *cfg;
    struct auth *auth;
    struct loop *l;
    struct mgmt *mgmt = NULL;
    char err[512];
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "c:p:m:d:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'p':
            if (parse_port("--port", optarg, 1, &port) < 0)
                return 2;
            have_port = true;
            break;
        case 'm':
            if (parse_port("--mgmt-port", optarg, 0, &mgmt_port) < 0)
                return 2;
            have_mgmt = true;
            break;
        case 'T':
            if (parse_port("--tls-port", optarg, 0, &tls_port) < 0)
                return 2;
            have_tls = true;
            break;
        case 'M':
            if (parse_port("--mgmt-tls-port", optarg, 0, &mgmt_tls_port) < 0)
                return 2;
            have_mgmt_tls = true;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'H': {
            char *h = auth_hash_password(optarg);
            printf("%s\n", h);
            free(h);
            return 0;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("%s %s\n", LEVERET_PRODUCT, LEVERET_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "leveret: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    cfg = config_load(config_path, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "leveret: %s\n", err);
        return 1;
    }
    if (have_port)
        cfg->amqp_port = port;
    if (have_mgmt)
        cfg->mgmt_port = mgmt_port;
    /* A TLS port needs the certificate and key the config file names. */
    if ((have_tls && tls_port && !cfg->tls.enabled) ||
        (have_mgmt_tls && mgmt_tls_port && !cfg->mgmt_tls.enabled)) {
        fprintf(stderr, "leveret: %s: the configuration has no listeners.%s (certfile, keyfile)\n",
                have_tls && tls_port && !cfg->tls.enabled ? "--tls-port" : "--mgmt-tls-port",
                have_tls && tls_port && !cfg->tls.enabled ? "tls" : "mgmt_tls");
        config_destroy(cfg);
        return 2;
    }
    if (have_tls)
        cfg->tls.port = tls_port;
    if (have_mgmt_tls)
        cfg->mgmt_tls.port = mgmt_tls_port;
    if (data_dir)
        config_set_data_dir(cfg, data_dir);
    log_set_level((enum log_level)cfg->log_level);
    if (cfg->log_file && log_open(cfg->log_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "leveret: log_file '%s': %s\n", cfg->log_file, err);
        config_destroy(cfg);
        return 1;
    }

    auth = auth_create();
    auth_set_loopback_users(auth, (const char *const *)cfg->loopback_users, cfg->n_loopback_users);
    if (make_dirs(cfg->data_dir) < 0) {
        fprintf(stderr, "leveret: data_dir '%s': %s\n", cfg->data_dir, strerror(errno));
        auth_destroy(auth);
        config_destroy(cfg);
        return 1;
    }

    queue_set_dead_letter_sink(publish_dead_letter, NULL);
    queue_set_idle_sink(vhost_queue_idle, NULL);
    l = loop_create(cfg, auth);
    rc = l ? 0 : -1;
    /* The memory budget, before recovery fills queues. */
    paging_init(cfg);
    /* Users, vhosts and permissions (seeded from the config on a fresh
     * data_dir), durable definitions and stored messages, before clients. */
    if (rc == 0 && durable_open(cfg, auth, loop_wake, l, err, sizeof(err)) < 0) {
        fprintf(stderr, "leveret: %s\n", err);
        rc = -1;
    }
    /* The spill area, once the store holds data_dir's lock. */
    if (rc == 0 && paging_open(err, sizeof(err)) < 0) {
        fprintf(stderr, "leveret: %s\n", err);
        rc = -1;
    }
    if (rc == 0)
        rc = loop_listen(l);
    /* The management API (and Prometheus) listen on the same loop. */
    if (rc == 0 && !(mgmt = mgmt_create(l, cfg, auth)))
        rc = -1;
    if (rc == 0) {
        log_info("%s %s started (config %s, data %s)", LEVERET_PRODUCT, LEVERET_VERSION,
                 config_path, cfg->data_dir);
        rc = loop_run(l);
        log_info("stopped");
    }
    /* Clients are gone: flush the store and mark it clean before tearing
     * queues down (which then changes nothing on disk). */
    durable_close();
    mgmt_destroy(mgmt);
    loop_destroy(l);
    vhost_remove_all();
    /* After the last queue: stubs release their spill records. */
    paging_close();
    auth_destroy(auth);
    config_destroy(cfg);
    log_close();
    return rc == 0 ? 0 : 1;
}
