/*
 * vdev_keys.c - key files for the device's front ends: MAC keys (raw
 * bytes) and Ed25519 keys (PEM), read and generated through libvmstream.
 */
#include "vdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MAX_KEY_FILE 65536

/* Reads at most cap bytes of path into buf; *len gets the size.  Fails if
 * the file is larger than cap. */
static int read_small_file(const char *path, uint8_t *buf, size_t cap, size_t *len,
                           char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            uint8_t extra;
            ssize_t n = read(fd, &extra, 1);
            if (n < 0 && errno == EINTR)
                continue;
            close(fd);
            if (n != 0) {
                snprintf(err, errcap, "%s is larger than %zu bytes", path, cap);
                return -1;
            }
            break;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0) {
            close(fd);
            break;
        }
        got += (size_t)n;
    }
    *len = got;
    return 0;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode,
                      char *err, size_t errcap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errcap, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int vdev_load_mac_key(const char *path, uint8_t key[64], size_t *len, char *err,
                      size_t errcap)
{
    if (read_small_file(path, key, 64, len, err, errcap))
        return -1;
    if (*len < 16) {
        snprintf(err, errcap, "%s: a MAC key has 16 to 64 raw bytes, this one %zu", path,
                 *len);
        return -1;
    }
    return 0;
}

static int load_pem(const char *path, bool priv, uint8_t key[VMS_ED25519_KEY_BYTES],
                    char *err, size_t errcap)
{
    uint8_t *buf = malloc(MAX_KEY_FILE);
    size_t len = 0;
    if (!buf) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int rc = read_small_file(path, buf, MAX_KEY_FILE, &len, err, errcap);
    if (!rc) {
        int st = priv ? vms_ed25519_parse_private_pem((const char *)buf, len, key)
                      : vms_ed25519_parse_public_pem((const char *)buf, len, key);
        if (st) {
            snprintf(err, errcap, "%s: not an Ed25519 %s key in PEM: %s", path,
                     priv ? "private" : "public", vms_strerror(st));
            rc = -1;
        }
    }
    explicit_bzero(buf, MAX_KEY_FILE);
    free(buf);
    return rc;
}

int vdev_load_ed25519_private(const char *path, uint8_t key[VMS_ED25519_KEY_BYTES],
                              char *err, size_t errcap)
{
    return load_pem(path, true, key, err, errcap);
}

int vdev_load_ed25519_public(const char *path, uint8_t key[VMS_ED25519_KEY_BYTES],
                             char *err, size_t errcap)
{
    return load_pem(path, false, key, err, errcap);
}

int vdev_keygen_ed25519(const char *priv_path, const char *pub_path, char *err,
                        size_t errcap)
{
    uint8_t priv[VMS_ED25519_KEY_BYTES], pub[VMS_ED25519_KEY_BYTES];
    char pem[1024];
    size_t need = 0;
    int st = vms_ed25519_keygen(priv, pub);
    if (st) {
        snprintf(err, errcap, "cannot generate an Ed25519 key: %s", vms_strerror(st));
        return -1;
    }
    int rc = -1;
    st = vms_ed25519_private_pem(priv, pem, sizeof pem, &need);
    if (st)
        snprintf(err, errcap, "cannot encode the private key: %s", vms_strerror(st));
    else if (write_file(priv_path, pem, strlen(pem), 0600, err, errcap) == 0) {
        st = vms_ed25519_public_pem(pub, pem, sizeof pem, &need);
        if (st)
            snprintf(err, errcap, "cannot encode the public key: %s", vms_strerror(st));
        else
            rc = write_file(pub_path, pem, strlen(pem), 0644, err, errcap);
    }
    explicit_bzero(priv, sizeof priv);
    explicit_bzero(pem, sizeof pem);
    return rc;
}

int vdev_keygen_mac(const char *path, char *err, size_t errcap)
{
    uint8_t key[32];
    size_t got = 0;
    while (got < sizeof key) {
        ssize_t n = getrandom(key + got, sizeof key - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errcap, "getrandom: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    int rc = write_file(path, key, sizeof key, 0600, err, errcap);
    explicit_bzero(key, sizeof key);
    return rc;
}

void vdev_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}
