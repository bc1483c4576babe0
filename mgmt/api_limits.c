/* SPDX-License-Identifier: MIT */
/*
 * api_limits: vhost limits, resource alarms and the memory high watermark.
 *
 * /api/vhost-limits[/{vhost}] lists the limits set ([{vhost, value: {name:
 * N}}], RabbitMQ's rabbit_mgmt_wm_limits: vhosts the user can see, vhosts
 * without limits left out); PUT /api/vhost-limits/{vhost}/{name} with
 * {"value": N} sets max-connections or max-queues (any integer; negative means
 * no limit, 0 allows nothing) and DELETE clears it (administrators only,
 * rabbit_mgmt_wm_limit).
 *
 * /api/health/checks/alarms and local-alarms answer 503 {"status":"failed",
 * "reason": ..., "alarms": [{"resource": "memory" | "disk space", "node": ..}]}
 * while an alarm is raised (rabbit_mgmt_wm_health_check_alarms); this node is
 * the whole cluster, so both list the same.
 *
 * GET|PUT /api/nodes/{node}/memory-high-watermark is ours: it shows or
 * replaces the watermark at run time, as rabbitmqctl
 * set_vm_memory_high_watermark does (not saved): {"relative": 0..1} or
 * {"absolute": bytes}.
 */
#include <stdio.h>
#include <stdlib.h>

#include "broker/alarm.h"
#include "broker/auth.h"
#include "broker/definitions.h"
#include "broker/memmon.h"
#include "mgmt/api.h"

/* ---- vhost limits ---- */

/* {vhost, value} of a vhost with limits set, or NULL. */
static json_t *limits_item(const struct auth *a, const char *vhost)
{
    json_t *value = definitions_vhost_limits(a, vhost);

    if (!value)
        return NULL;
    return json_pack("{s:s, s:o}", "vhost", vhost, "value", value);
}

void mgmt__h_vhost_limits(struct mgmt_req *r)
{
    struct auth *a = r->ctx->auth;
    json_t *arr = json_array(), *item;

    if (r->match.id == MGMT_R_VHOST_LIMITS_VHOST) {
        char *vhost = mgmt__vhost_name_arg(r, 0);
        if (!vhost) {
            json_decref(arr);
            return;
        }
        if ((item = limits_item(a, vhost)))
            json_array_append_new(arr, item);
        free(vhost);
    } else {
        for (size_t i = 0; i < auth_vhost_count(a); i++) {
            const char *v = auth_vhost_at(a, i);
            if (mgmt__vhost_visible(r, v) && (item = limits_item(a, v)))
                json_array_append_new(arr, item);
        }
    }
    mgmt_reply_list(r, arr);
}

void mgmt__h_vhost_limit(struct mgmt_req *r)
{
    struct view vhost = mgmt_arg(r, 0), name = mgmt_arg(r, 1);
    enum auth_vhost_limit which;
    json_t *body, *value;
    char reason[300];

    if (!mgmt__require_admin(r))
        return;
    if (!auth_vhost_exists(r->ctx->auth, vhost)) {
        mgmt_reply_error(r, 404, "Object Not Found", "vhost_not_found");
        return;
    }
    if (auth_limit_parse(name, &which) < 0) {
        /* RabbitMQ's parameter validation refuses names it does not know. */
        snprintf(reason, sizeof(reason),
                 "Validation failed\n\nUnrecognised terms [{<<\"%.*s\">>,...}] in limits",
                 (int)(name.n > 200 ? 200 : name.n), (const char *)name.p);
        if (r->method == MGMT_DELETE)
            mgmt_reply(r, 204, NULL); /* nothing set under that name to clear */
        else
            mgmt_reply_bad_request(r, reason);
        return;
    }
    if (r->method == MGMT_DELETE) {
        auth_vhost_set_limit(r->ctx->auth, vhost, which, AUTH_LIMIT_UNSET);
        mgmt_reply(r, 204, NULL);
        return;
    }
    if (!(body = mgmt_body_object(r)))
        return;
    value = json_object_get(body, "value");
    if (!value) {
        mgmt_reply_bad_request(r, "[value] missing");
    } else if (!json_is_integer(value) || json_integer_value(value) == INT64_MIN) {
        snprintf(reason, sizeof(reason), "Validation failed\n\n%s should be a number",
                 auth_limit_names[which]);
        mgmt_reply_bad_request(r, reason);
    } else {
        auth_vhost_set_limit(r->ctx->auth, vhost, which, (int64_t)json_integer_value(value));
        mgmt_reply(r, 204, NULL);
    }
    json_decref(body);
}

/* ---- resource alarms ---- */

void mgmt__h_health_alarms(struct mgmt_req *r)
{
    unsigned set = alarm_active();
    static const enum alarm_resource order[] = {ALARM_DISK, ALARM_MEMORY};
    json_t *alarms;

    if (!set) {
        mgmt_reply(r, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    alarms = json_array();
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (set & order[i])
            json_array_append_new(alarms,
                                  json_pack("{s:s, s:s}", "resource", alarm_resource_name(order[i]),
                                            "node", mgmt_node_name()));
    mgmt_reply(r, 503,
               json_pack("{s:s, s:s, s:o}", "status", "failed", "reason",
                         r->match.id == MGMT_R_HEALTH_LOCAL_ALARMS
                             ? "There are alarms in effect on the node"
                             : "There are alarms in effect in the cluster",
                         "alarms", alarms));
}

/* ---- memory high watermark (ours) ---- */

static json_t *watermark_new(void)
{
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:b}", "limit", (json_int_t)memmon_limit(), "used",
                  (json_int_t)memmon_used(), "total_memory_available", (json_int_t)memmon_total(),
                  "mem_alarm", (alarm_active() & ALARM_MEMORY) != 0);

    if (memmon_absolute())
        json_object_set_new(o, "absolute", json_integer((json_int_t)memmon_absolute()));
    else
        json_object_set_new(o, "relative", json_real(memmon_relative()));
    return o;
}

void mgmt__h_node_watermark(struct mgmt_req *r)
{
    json_t *body, *rel, *abs_j;

    if (!view_eq_str(mgmt_arg(r, 0), mgmt_node_name())) {
        mgmt_reply_not_found(r);
        return;
    }
    if (r->method != MGMT_PUT) {
        if (!mgmt__is_monitor(r))
            mgmt_reply_not_authorised(r, "Not monitor user");
        else
            mgmt_reply(r, 200, watermark_new());
        return;
    }
    if (!mgmt__require_admin(r) || !(body = mgmt_body_object(r)))
        return;
    rel = json_object_get(body, "relative");
    abs_j = json_object_get(body, "absolute");
    if ((rel != NULL) == (abs_j != NULL)) {
        mgmt_reply_bad_request(r, "give either \"relative\" or \"absolute\"");
    } else if (rel && (!json_is_number(rel) || !(json_number_value(rel) >= 0) ||
                       json_number_value(rel) > 1)) {
        mgmt_reply_bad_request(r, "relative must be a number from 0 to 1");
    } else if (abs_j && (!json_is_integer(abs_j) || json_integer_value(abs_j) < 1)) {
        mgmt_reply_bad_request(r, "absolute must be a positive integer (bytes)");
    } else {
        memmon_set_watermark(rel ? json_number_value(rel) : 0,
                             abs_j ? (uint64_t)json_integer_value(abs_j) : 0);
        mgmt_reply(r, 204, NULL);
    }
    json_decref(body);
}
