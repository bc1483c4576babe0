/* SPDX-License-Identifier: MIT */
#include "broker/alarm.h"

#include "broker/conn.h"

static unsigned active;

void alarm_set(enum alarm_resource r, bool raised)
{
    unsigned was = active;

    if (raised)
        active |= (unsigned)r;
    else
        active &= ~(unsigned)r;
    if (active != was)
        conn_alarms_changed(active);
}

unsigned alarm_active(void)
{
    return active;
}

const char *alarm_reason(unsigned set)
{
    set &= ALARM_MEMORY | ALARM_DISK;
    if (set == (ALARM_MEMORY | ALARM_DISK))
        return "low on memory & disk";
    if (set == ALARM_MEMORY)
        return "low on memory";
    if (set == ALARM_DISK)
        return "low on disk";
    return "";
}

const char *alarm_resource_name(enum alarm_resource r)
{
    return r == ALARM_MEMORY ? "memory" : "disk space";
}
