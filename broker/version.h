/* SPDX-License-Identifier: MIT */
/* version: product identity reported in connection.start and --version. */
#ifndef BROKER_VERSION_H
#define BROKER_VERSION_H

#define LEVERET_PRODUCT "Leveret"
#define LEVERET_VERSION "0.1.0"
#define LEVERET_PLATFORM "C11/libev"
#define LEVERET_COPYRIGHT "Copyright (c) the Leveret authors"
#define LEVERET_INFORMATION "Licensed under the MIT License"

#endif
