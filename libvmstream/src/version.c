/* version.c - runtime version queries. */
#include "internal.h"

const char *vms_version(void)
{
    return VMS_VERSION_STRING;
}

unsigned vms_version_number(void)
{
    return VMS_VERSION_NUMBER;
}

unsigned vms_features(void)
{
    unsigned f = 0;
#ifdef VMS_HAVE_ZSTD
    f |= VMS_FEATURE_ZSTD;
#endif
#ifdef VMS_HAVE_OPENSSL
    f |= VMS_FEATURE_ED25519;
#endif
    return f;
}
