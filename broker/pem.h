/* SPDX-License-Identifier: MIT */
/*
 * pem: reading and checking the PEM files of the TLS settings (certificates,
 * private keys), with libcrypto only, so config.c can report a bad file with
 * its position in config.json. Nothing here logs or keeps state.
 *
 * Files must be regular files (a FIFO or a device is refused before it is
 * read, so a path cannot block or stream forever) of at most PEM_FILE_MAX
 * bytes. Reasons come back in why without the path (the caller knows it).
 */
#ifndef BROKER_PEM_H
#define BROKER_PEM_H

#include <stddef.h>

#define PEM_FILE_MAX (1u << 20)

/**
 * Reads a whole regular file into a NUL-terminated string owned by the caller
 * (*len, if given, gets its length). NULL with a reason on failure.
 */
char *pem_read_file(const char *path, size_t *len, char *why, size_t whylen);

/** 0 if path holds at least one PEM certificate; -1 with a reason otherwise. */
int pem_check_certs(const char *path, char *why, size_t whylen);

/**
 * 0 if keypath holds an unencrypted PEM private key that belongs to the first
 * certificate of certpath; -1 with a reason otherwise.
 */
int pem_check_key(const char *keypath, const char *certpath, char *why, size_t whylen);

#endif
