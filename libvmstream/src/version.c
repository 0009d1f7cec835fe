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
