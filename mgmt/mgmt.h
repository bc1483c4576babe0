/* SPDX-License-Identifier: MIT */
/*
 * mgmt: the management HTTP API (RabbitMQ's /api/...) and Prometheus metrics,
 * served from the broker's own loop.
 *
 * GNU libmicrohttpd runs with its own epoll set and no thread of its own; its
 * epoll fd is watched by one ev_io and its timeout by one ev_timer, and
 * MHD_run is called when either fires (STYLE.md §9), so every handler runs on
 * the loop thread and reads broker state without locks. mgmt/http.c is the
 * only mgmt file that talks to libev or libmicrohttpd. Handlers read state
 * only through the public module headers and change it through broker/ops.h
 * and broker/definitions.h.
 */
#ifndef MGMT_MGMT_H
#define MGMT_MGMT_H

struct loop;
struct config;
struct auth;
struct mgmt;

/**
 * Starts the management listener (cfg->mgmt_address:mgmt_port; none when the
 * port is 0) and the Prometheus listener (cfg->prometheus_port; none when 0),
 * plus the 5 s rate sampler. l, cfg and auth are borrowed and must outlive the
 * result. Returns NULL after logging when a listener cannot start; otherwise
 * the caller owns the result (mgmt_destroy).
 */
struct mgmt *mgmt_create(struct loop *l, const struct config *cfg, struct auth *auth);
/** Stops the listeners and frees everything. Accepts NULL. */
void mgmt_destroy(struct mgmt *m);

#endif
