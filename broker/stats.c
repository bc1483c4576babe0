/* SPDX-License-Identifier: MIT */
#include "broker/stats.h"

struct stats stats;
