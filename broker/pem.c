/* SPDX-License-Identifier: MIT */
#include "broker/pem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "broker/util.h"

char *pem_read_file(const char *path, size_t *len, char *why, size_t whylen)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    size_t got = 0;

    if (fd < 0) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(why, whylen, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        goto out;
    }
    if ((unsigned long long)st.st_size > PEM_FILE_MAX) {
        snprintf(why, whylen, "larger than %u KiB", PEM_FILE_MAX >> 10);
        goto out;
    }
    text = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, whylen, "cannot read: %s", strerror(errno));
            free(text);
            text = NULL;
            goto out;
        }
        if (n == 0)
            break; /* shrank meanwhile: take what is there */
        got += (size_t)n;
    }
    text[got] = '\0';
    if (len)
        *len = got;
out:
    close(fd);
    return text;
}

/* A file's contents as a memory BIO (the BIO borrows *text; free both). */
static BIO *open_pem(const char *path, char **text, char *why, size_t whylen)
{
    size_t len;
    BIO *b;

    *text = pem_read_file(path, &len, why, whylen);
    if (!*text)
        return NULL;
    b = BIO_new_mem_buf(*text, (int)len);
    if (!b) {
        snprintf(why, whylen, "out of memory");
        free(*text);
        *text = NULL;
    }
    return b;
}

/* The first certificate in path, or NULL with a reason. */
static X509 *first_cert(const char *path, size_t *count, char *why, size_t whylen)
{
    char *text;
    BIO *b = open_pem(path, &text, why, whylen);
    X509 *first = NULL, *x;

    *count = 0;
    if (!b)
        return NULL;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (!first)
            first = x;
        else
            X509_free(x);
        (*count)++;
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    if (!first)
        snprintf(why, whylen, "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)");
    BIO_free(b);
    free(text);
    return first;
}

int pem_check_certs(const char *path, char *why, size_t whylen)
{
    size_t n;
    X509 *x = first_cert(path, &n, why, whylen);

    X509_free(x);
    return x ? 0 : -1;
}

/* Passphrase callback: never prompts on the terminal, only notes that one was wanted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)u = true;
    return -1;
}

int pem_check_key(const char *keypath, const char *certpath, char *why, size_t whylen)
{
    char *text;
    BIO *b = open_pem(keypath, &text, why, whylen);
    EVP_PKEY *key;
    X509 *cert;
    bool encrypted = false;
    size_t n;
    int rc = -1;

    if (!b)
        return -1;
    key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, &encrypted);
    ERR_clear_error();
    BIO_free(b);
    free(text);
    if (!key) {
        snprintf(why, whylen,
                 encrypted ? "the private key is encrypted (passphrase-protected keys "
                             "are not supported)"
                           : "no PEM private key in it (expected -----BEGIN PRIVATE "
                             "KEY----- or an RSA/EC variant)");
        return -1;
    }
    cert = first_cert(certpath, &n, why, whylen);
    if (cert) {
        if (X509_check_private_key(cert, key) == 1)
            rc = 0;
        else
            snprintf(why, whylen, "the private key does not match the certificate in certfile");
        ERR_clear_error();
        X509_free(cert);
    }
    EVP_PKEY_free(key);
    return rc;
}
