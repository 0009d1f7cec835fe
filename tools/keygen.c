/* keygen.c - `vmstream keygen`: make an Ed25519 key pair or a MAC key. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

const char cli_help_keygen[] =
    "Usage: vmstream keygen --ed25519 [--force] -o NAME\n"
    "       vmstream keygen --mac [--force] -o FILE\n"
    "\n"
    "Make a new key and print its key id (16 hex digits) on stdout.  The key\n"
    "id is what a stream header names: the first 8 bytes of\n"
    "BLAKE2b-256(\"libvmstream key id v1\" || key), over the MAC key, or over\n"
    "the Ed25519 public key.\n"
    "\n"
    "  --ed25519   an Ed25519 key pair for signed streams: NAME.pem, the\n"
    "              private key (unencrypted PKCS#8 PEM, mode 0600; for\n"
    "              'vmstream encode --sign'), and NAME.pub.pem, the public key\n"
    "              (SubjectPublicKeyInfo PEM; for --verify-key).  A trailing\n"
    "              .pem in NAME is dropped.  Needs a libvmstream built with\n"
    "              OpenSSL 3.\n"
    "  --mac       a MAC key: FILE gets 32 random bytes from the kernel's\n"
    "              CSPRNG (getrandom), mode 0600 (for --mac-key)\n"
    "\n"
    "Options:\n"
    "  -o, --output NAME  where to write the key (required)\n"
    "  -f, --force        replace existing key files (each is replaced\n"
    "                     atomically); without it an existing file is\n"
    "                     never overwritten\n"
    "  -h, --help         show this help\n"
    "\n"
    "Keep the private key and the MAC key secret: anyone holding them can make\n"
    "streams the receivers accept.\n"
    "\n"
    "Exit status: 0 key written, 2 usage or I/O error (including an existing\n"
    "file without --force).\n";

enum { OPT_ED25519 = 0x100, OPT_MAC };

static const struct option keygen_options[] = {
    {"ed25519", no_argument, NULL, OPT_ED25519},
    {"mac", no_argument, NULL, OPT_MAC},
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A key file being written. */
typedef struct key_out {
    const char *path;
    int fd;
    bool created; /* made by us without --force: unlink it on failure */
    cli_tmpfile tmp;
} key_out;

static mode_t umask_value(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

/* Opens path for a new key.  Without force, O_CREAT|O_EXCL with mode
 * (never following or replacing anything); with force, a temporary file
 * next to it that key_commit renames over it. */
static int key_open(key_out *k, const char *path, mode_t mode, bool force)
{
    memset(k, 0, sizeof *k);
    k->path = path;
    k->fd = -1;
    k->tmp.fd = -1;
    if (force) {
        if (tmpfile_create_beside(&k->tmp, path) != EXIT_OK)
            return EXIT_USAGE;
        k->fd = k->tmp.fd;
        return EXIT_OK;
    }
    k->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (k->fd < 0) {
        if (errno == EEXIST)
            cli_error("'%s' already exists; not overwriting it (use --force to replace "
                      "it)", path);
        else
            cli_error("cannot create '%s': %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    k->created = true;
    return EXIT_OK;
}

static void key_discard(key_out *k)
{
    if (k->tmp.fd >= 0 || k->tmp.path) {
        tmpfile_discard(&k->tmp);
    } else {
        if (k->fd >= 0)
            close(k->fd);
        if (k->created)
            unlink(k->path);
    }
    k->fd = -1;
    k->created = false;
}

static int key_write(key_out *k, const void *buf, size_t len)
{
    if (write_all(k->fd, buf, len) != 0) {
        cli_error("cannot write '%s': %s", k->path, strerror(errno));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Makes the file durable with its final mode.  After this, key_discard
 * still removes a file created without --force (when a later file fails). */
static int key_commit(key_out *k, mode_t mode)
{
    if (k->tmp.path || k->tmp.special) {
        int st = tmpfile_commit_mode(&k->tmp, k->path, mode);
        k->fd = -1;
        return st;
    }
    if (fsync(k->fd) != 0 || close(k->fd) != 0) {
        int err = errno;
        k->fd = -1;
        cli_error("cannot write '%s': %s", k->path, strerror(err));
        unlink(k->path);
        k->created = false;
        return EXIT_USAGE;
    }
    k->fd = -1;
    return EXIT_OK;
}

static void print_key_id(const uint8_t id[VMS_KEY_ID_BYTES])
{
    char hex[2 * VMS_KEY_ID_BYTES + 1];
    hex_format(hex, id, VMS_KEY_ID_BYTES);
    printf("%s\n", hex);
}

static int keygen_mac(const char *path, bool force)
{
    uint8_t key[VMS_MAC_KEY_BYTES], id[VMS_KEY_ID_BYTES];
    size_t got = 0;
    while (got < sizeof key) {
        ssize_t n = getrandom(key + got, sizeof key - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cli_error("cannot get random bytes from the kernel: %s",
                      n < 0 ? strerror(errno) : "no data");
            return EXIT_USAGE;
        }
        got += (size_t)n;
    }
    vms_key_id(key, sizeof key, id);
    key_out k;
    int st = key_open(&k, path, 0600, force);
    if (st == EXIT_OK)
        st = key_write(&k, key, sizeof key);
    explicit_bzero(key, sizeof key);
    if (st == EXIT_OK)
        st = key_commit(&k, 0600);
    if (st != EXIT_OK) {
        key_discard(&k);
        return st;
    }
    print_key_id(id);
    return EXIT_OK;
}

/* Both PEM forms of an Ed25519 key fit easily. */
#define PEM_CAP 1024

static int keygen_ed25519(const char *name, bool force)
{
    size_t nlen = strlen(name);
    if (nlen > 4 && strcmp(name + nlen - 4, ".pem") == 0)
        nlen -= 4;
    if (nlen == 0 || name[nlen - 1] == '/')
        return cli_usage_error("-o NAME: '%s' does not name a file", name);
    char *priv_path = malloc(nlen + 5), *pub_path = malloc(nlen + 9);
    if (!priv_path || !pub_path) {
        free(priv_path);
        free(pub_path);
        cli_error("out of memory");
        return EXIT_USAGE;
    }
    snprintf(priv_path, nlen + 5, "%.*s.pem", (int)nlen, name);
    snprintf(pub_path, nlen + 9, "%.*s.pub.pem", (int)nlen, name);

    uint8_t priv[VMS_ED25519_KEY_BYTES], pub[VMS_ED25519_KEY_BYTES], id[VMS_KEY_ID_BYTES];
    char priv_pem[PEM_CAP], pub_pem[PEM_CAP];
    size_t priv_len = 0, pub_len = 0;
    int st = EXIT_OK;
    int rc = vms_ed25519_keygen(priv, pub);
    if (rc == VMS_OK)
        rc = vms_ed25519_private_pem(priv, priv_pem, sizeof priv_pem, &priv_len);
    if (rc == VMS_OK)
        rc = vms_ed25519_public_pem(pub, pub_pem, sizeof pub_pem, &pub_len);
    explicit_bzero(priv, sizeof priv);
    if (rc == VMS_E_UNSUPPORTED) {
        cli_error("Ed25519 signatures are not built into this libvmstream (it was built "
                  "without OpenSSL 3)");
        st = EXIT_USAGE;
    } else if (rc != VMS_OK) {
        cli_error("cannot make an Ed25519 key: %s", vms_strerror(rc));
        st = EXIT_USAGE;
    }
    vms_key_id(pub, sizeof pub, id);

    /* Refuse before writing anything when either file exists. */
    struct stat sb;
    if (st == EXIT_OK && !force) {
        const char *paths[2] = {priv_path, pub_path};
        for (int i = 0; i < 2 && st == EXIT_OK; i++) {
            if (lstat(paths[i], &sb) == 0) {
                cli_error("'%s' already exists; not overwriting it (use --force to "
                          "replace it)", paths[i]);
                st = EXIT_USAGE;
            }
        }
    }
    key_out kpriv, kpub;
    memset(&kpriv, 0, sizeof kpriv);
    memset(&kpub, 0, sizeof kpub);
    kpriv.fd = kpub.fd = kpriv.tmp.fd = kpub.tmp.fd = -1;
    /* Both files are opened and written before either is committed, so a
     * failure leaves no half pair behind.  The PEM lengths count the NUL. */
    if (st == EXIT_OK)
        st = key_open(&kpriv, priv_path, 0600, force);
    if (st == EXIT_OK)
        st = key_open(&kpub, pub_path, 0666, force);
    if (st == EXIT_OK)
        st = key_write(&kpriv, priv_pem, priv_len - 1);
    explicit_bzero(priv_pem, sizeof priv_pem);
    if (st == EXIT_OK)
        st = key_write(&kpub, pub_pem, pub_len - 1);
    if (st == EXIT_OK)
        st = key_commit(&kpriv, 0600);
    if (st == EXIT_OK)
        st = key_commit(&kpub, 0666 & ~umask_value());
    if (st != EXIT_OK) {
        key_discard(&kpub);
        key_discard(&kpriv); /* no half pair is left behind */
    } else {
        print_key_id(id);
    }
    free(priv_path);
    free(pub_path);
    return st;
}

int cmd_keygen(int argc, char **argv)
{
    int kind = 0;
    bool force = false;
    const char *out = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":o:fh", keygen_options, NULL)) != -1) {
        switch (c) {
        case OPT_ED25519:
        case OPT_MAC:
            if (kind && kind != c)
                return cli_usage_error("--ed25519 and --mac exclude each other");
            kind = c;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            return cli_print_help(cli_help_keygen);
        default:
            return cli_bad_option(c, argc, argv, keygen_options);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!kind)
        return cli_usage_error("choose the kind of key: --ed25519 or --mac");
    if (!out)
        return cli_usage_error("missing -o %s", kind == OPT_MAC ? "FILE" : "NAME");
    if (strcmp(out, "-") == 0)
        return cli_usage_error("keys are written to files only, not to stdout");
    return kind == OPT_MAC ? keygen_mac(out, force) : keygen_ed25519(out, force);
}
