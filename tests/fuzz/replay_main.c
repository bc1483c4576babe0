/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs without libFuzzer, so `make check` can run every corpus
 * under gcc (and under ASan/UBSan with SANITIZE=...). Linked with one
 * tests/fuzz/fuzz_<target>.c. Each argument is a file, or a directory whose
 * regular files are all replayed (not recursively). A crash or failed
 * assertion in the target aborts the run; an unreadable path exits 1.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path whole and runs the target on exactly its bytes. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, n;

    if (!fp) {
        perror(path);
        return -1;
    }
    for (;;) {
        if (cap - len < 4096) {
            uint8_t *p;
            cap = cap ? cap * 2 : 8192;
            p = realloc(data, cap);
            if (!p) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(data);
                fclose(fp);
                return -1;
            }
            data = p;
        }
        n = fread(data + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        perror(path);
        free(data);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    /* Hand the target an exact-size copy so ASan catches reads past the end. */
    {
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
            free(data);
            return -1;
        }
        if (len)
            memcpy(exact, data, len);
        free(data);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    return 0;
}

static int replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
            fprintf(stderr, "%s/%s: path too long\n", dir, e->d_name);
            rc = -1;
            continue;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0)
            rc = -1;
        else
            (*count)++;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0)
                rc = 1;
        } else if (replay_file(argv[i]) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    printf("replayed %zu inputs\n", count);
    return rc;
}
